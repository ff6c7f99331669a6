"""Users, API tokens and workspace roles: who may do what.

Passwords are kept as argon2id hashes (``argon2-cffi``: memory-hard, maintained); tokens are
random (``joey_`` + 32 bytes, url-safe), shown once, and kept only as their sha256, which is
enough for a secret with 256 bits of entropy and cheap to check on every request. Roles are
Wallaroo's: a workspace's ``OWNER`` manages its members, ``COLLABORATOR``\\ s use it; an admin
invites users and may do everything.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from joey.errors import (
    AuthenticationError,
    ConflictError,
    EntityNotFoundError,
    InvalidRequestError,
    PermissionDeniedError,
)
from joey.platform.quotas import check_invite
from joey.platform.store import Store, TokenRow, UserRow

OWNER = "OWNER"
COLLABORATOR = "COLLABORATOR"
ROLES = (OWNER, COLLABORATOR)
TOKEN_PREFIX = "joey_"
LOGIN_TOKEN_LIFETIME = timedelta(hours=12)
"""How long a token issued by a password login lives (Wallaroo's JWTs: about an hour)."""

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def token_hash(token: str) -> str:
    """What the store keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request acts as."""

    user_id: int
    email: str
    is_admin: bool


@dataclass(frozen=True)
class IssuedToken:
    """A token as created: ``token`` is shown this once and never stored."""

    id: int
    token: str
    name: str
    expires_at: datetime | None


class Accounts:
    """Users, tokens and roles over the store; ``quotas`` is ``JOEY_QUOTAS`` (``max_users``),
    which the policy an admin set in the store overrides."""

    def __init__(self, store: Store, quotas: str = "unlimited") -> None:
        self._accounts = store.accounts
        self._store = store
        self._quotas = quotas

    # users

    def ensure_admin(self, email: str, password: str) -> UserRow:
        """The first admin, from ``JOEY_ADMIN_EMAIL``/``JOEY_ADMIN_PASSWORD`` on first start (kept
        as it is afterwards)."""
        existing = self._accounts.get_user(_email(email))
        if existing is not None:
            return existing
        return self._accounts.create_user(_email(email), hash_password(password), is_admin=True)

    def invite_user(self, actor: Principal, email: str, password: str | None = None) -> UserRow:
        """Wallaroo's ``wl.invite_user(email, password)``: admins only."""
        if not actor.is_admin:
            raise PermissionDeniedError("invite users", "only an admin invites users")
        if password is not None and len(password) < 8:
            raise InvalidRequestError("password: expected at least 8 characters")
        address = _email(email)
        if self._accounts.get_user(address) is None:  # an existing user answers 409 below, quota or not
            check_invite(self._store, self._quotas)
        try:
            return self._accounts.create_user(address, hash_password(password) if password else None)
        except ValueError as exc:
            raise ConflictError(str(exc)) from exc

    def user(self, email: str) -> UserRow:
        found = self._accounts.get_user(_email(email))
        if found is None:
            raise EntityNotFoundError("user", email)
        return found

    def login(self, email: str, password: str) -> IssuedToken:
        """A token for the user whose password this is (the same answer for every failure)."""
        try:
            user = self._accounts.get_user(_email(email))
        except InvalidRequestError:
            user = None
        try:
            # an unknown user costs the same hash check, so the answer's time does not tell
            _HASHER.verify(user.password_hash if user is not None and user.password_hash else _dummy_hash(),
                           password)
        except (VerificationError, InvalidHashError):
            raise AuthenticationError("wrong email or password") from None
        if user is None or not user.active or user.password_hash is None:
            raise AuthenticationError("wrong email or password")
        return self.create_token(_principal(user), "login", LOGIN_TOKEN_LIFETIME)

    # tokens

    def create_token(self, actor: Principal, name: str, lifetime: timedelta | None = None) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + lifetime if lifetime is not None else None
        row = self._accounts.add_token(actor.user_id, name, token_hash(token), expires_at)
        return IssuedToken(row.id, token, name, expires_at)

    def tokens(self, actor: Principal) -> list[TokenRow]:
        return self._accounts.list_tokens(actor.user_id)

    def revoke_token(self, actor: Principal, token_id: int) -> None:
        if not self._accounts.revoke_token(actor.user_id, token_id):
            raise EntityNotFoundError("token", str(token_id))

    def authenticate_until(self, token: str | None) -> tuple[Principal, datetime | None]:
        """The principal a bearer token stands for, and when the token expires (None: never);
        ``AuthenticationError`` otherwise."""
        if not token:
            raise AuthenticationError()
        found = self._accounts.token_by_hash(token_hash(token))
        if found is None:
            raise AuthenticationError("unknown token")
        row, user = found
        if row.revoked_at is not None:
            raise AuthenticationError("token revoked")
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            raise AuthenticationError("token expired")
        if not user.active:
            raise AuthenticationError("user deactivated")
        return _principal(user), row.expires_at

    # roles

    def role(self, actor: Principal, workspace_id: int) -> str | None:
        return self._accounts.role(workspace_id, actor.user_id)

    def check_member(self, actor: Principal, workspace_id: int, workspace_name: str) -> None:
        """Anyone in the workspace (or an admin); others are told it does not exist."""
        if not actor.is_admin and self.role(actor, workspace_id) is None:
            raise EntityNotFoundError("workspace", workspace_name)

    def check_owner(self, actor: Principal, workspace_id: int, workspace_name: str, action: str) -> None:
        self.check_member(actor, workspace_id, workspace_name)
        if not actor.is_admin and self.role(actor, workspace_id) != OWNER:
            raise PermissionDeniedError(action, f"only an owner of workspace {workspace_name!r} may")

    def set_role(self, workspace_id: int, email: str, role: str) -> None:
        if role not in ROLES:
            raise InvalidRequestError(f"user_type: expected one of {list(ROLES)}, got {role!r}")
        user = self.user(email)
        if role != OWNER and self._only_owner(workspace_id, user.id):
            raise InvalidRequestError("user_type: a workspace keeps at least one owner: add another owner first")
        self._accounts.set_member(workspace_id, user.id, role)

    def remove(self, workspace_id: int, email: str) -> None:
        user = self.user(email)
        if self._only_owner(workspace_id, user.id):
            raise InvalidRequestError("email: a workspace keeps at least one owner: add another owner first")
        if not self._accounts.remove_member(workspace_id, user.id):
            raise EntityNotFoundError("member", email, f"in workspace {workspace_id}")

    def _only_owner(self, workspace_id: int, user_id: int) -> bool:
        """The user is the workspace's one owner (a workspace keeps at least one)."""
        return [m.user_id for m in self._accounts.members(workspace_id) if m.role == OWNER] == [user_id]

    def workspace_ids(self, actor: Principal) -> set[int] | None:
        """The workspaces the actor sees; None for all (an admin)."""
        return None if actor.is_admin else set(self._accounts.workspaces_of(actor.user_id))


def _email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise InvalidRequestError(f"email: expected an address like name@example.com, got {email!r}")
    return email


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def _principal(user: UserRow) -> Principal:
    return Principal(user.id, user.email, user.is_admin)
