"""Who a dashboard request acts as: the token in its session cookie, checked by the same code as
the API's bearer tokens.

Two gates: the service's (users, passwords and API tokens of ``joey.platform.accounts``; a
page resolves its caller with the service's ``TokenCache``, exactly as a ``Bearer`` header),
and the embedded default's (``joey dashboard``: no users, so one random token per run, printed
in the URL the command shows, as Jupyter does; whoever holds it acts as the embedded SDK's
user, who sees every workspace).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Protocol

from joey.errors import AuthenticationError
from joey.platform.accounts import Accounts, Principal, token_hash
from joey.platform.store import Store, WorkspaceRow
from joey.service.auth import TokenCache

COOKIE = "joey_dashboard"
"""The session cookie: the caller's token (HttpOnly, SameSite=Strict, path /dashboard)."""
ISSUED_COOKIE = "joey_dashboard_issued"
"""Set when the dashboard issued the token (a password login): logout then revokes it; a
pasted API token is only forgotten."""


class Gate(Protocol):
    """How the dashboard signs callers in and what they see."""

    password_login: bool
    """Whether the login page offers email and password (the service) or a token only."""

    def principal(self, token: str | None) -> Principal:
        """The caller of ``token``; ``AuthenticationError`` without a valid one."""

    def login(self, email: str, password: str) -> str:
        """A new token for email and password; ``AuthenticationError`` when wrong."""

    def logout(self, caller: Principal, token: str) -> None:
        """Revoke a token the dashboard issued."""

    def workspaces(self, caller: Principal) -> list[WorkspaceRow]:
        """The caller's workspaces, by name."""

    def is_member(self, caller: Principal, workspace: WorkspaceRow) -> bool:
        """Whether the caller may see the workspace (others get 404, as from the API)."""


@dataclass
class ServiceGate:
    """The service's users and tokens."""

    store: Store
    accounts: Accounts
    tokens: TokenCache
    password_login: bool = True

    def principal(self, token: str | None) -> Principal:
        if not token:
            raise AuthenticationError()
        return self.tokens.principal(f"Bearer {token}")

    def login(self, email: str, password: str) -> str:
        return self.accounts.login(email, password).token

    def logout(self, caller: Principal, token: str) -> None:
        found = self.store.accounts.token_by_hash(token_hash(token))
        if found is not None and found[1].id == caller.user_id:
            self.accounts.revoke_token(caller, found[0].id)

    def workspaces(self, caller: Principal) -> list[WorkspaceRow]:
        visible = self.accounts.workspace_ids(caller)
        rows = [w for w in self.store.list_workspaces() if visible is None or w.id in visible]
        return sorted(rows, key=lambda w: w.name)

    def is_member(self, caller: Principal, workspace: WorkspaceRow) -> bool:
        return caller.is_admin or self.accounts.role(caller, workspace.id) is not None


@dataclass
class EmbeddedGate:
    """The embedded default: one token per run, standing for the embedded SDK's user."""

    store: Store
    actor: str
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    password_login: bool = False

    def principal(self, token: str | None) -> Principal:
        if not token or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise AuthenticationError("unknown token")
        return Principal(0, self.actor, is_admin=True)

    def login(self, email: str, password: str) -> str:  # noqa: ARG002 - no users in embedded mode
        raise AuthenticationError("the embedded dashboard has no users: sign in with the token "
                                  "`joey dashboard` printed")

    def logout(self, caller: Principal, token: str) -> None:
        """Nothing to revoke: the token lives as long as the command."""

    def workspaces(self, caller: Principal) -> list[WorkspaceRow]:  # noqa: ARG002 - one user sees all
        return sorted(self.store.list_workspaces(), key=lambda w: w.name)

    def is_member(self, caller: Principal, workspace: WorkspaceRow) -> bool:  # noqa: ARG002
        return True
