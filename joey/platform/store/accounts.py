"""Users, API tokens and workspace roles in the store. Only hashes of secrets are kept: the
password's (a memory-hard KDF, ``joey.platform.accounts``) and the token's sha256."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from joey.platform.store.models import ApiToken, User, WorkspaceMember
from joey.platform.store.rows import MemberRow, TokenRow, UserRow


def _now() -> datetime:
    return datetime.now(UTC)


class AccountStore:
    """The ``users``, ``api_tokens`` and ``workspace_members`` tables (``Store.accounts``)."""

    def __init__(self, read: sessionmaker[Session], write: sessionmaker[Session]) -> None:
        self._read = read
        self._write = write

    # users

    def create_user(self, email: str, password_hash: str | None, is_admin: bool = False) -> UserRow:
        """``ValueError`` when a user with this email exists."""
        try:
            with self._write.begin() as session:
                user = User(email=email, password_hash=password_hash, is_admin=is_admin, active=True,
                            created_at=_now())
                session.add(user)
                session.flush()
                return _user_row(user)
        except IntegrityError as exc:
            raise ValueError(f"user {email!r} already exists") from exc

    def get_user(self, email: str) -> UserRow | None:
        with self._read.begin() as session:
            found = session.scalar(select(User).where(User.email == email))
            return None if found is None else _user_row(found)

    def get_user_by_id(self, user_id: int) -> UserRow | None:
        with self._read.begin() as session:
            found = session.get(User, user_id)
            return None if found is None else _user_row(found)

    def list_users(self) -> list[UserRow]:
        with self._read.begin() as session:
            return [_user_row(u) for u in session.scalars(select(User).order_by(User.id))]

    def set_user_active(self, user_id: int, active: bool) -> None:
        with self._write.begin() as session:
            user = session.get(User, user_id)
            if user is not None:
                user.active = active

    def count_users(self) -> int:
        return len(self.list_users())

    # tokens

    def add_token(self, user_id: int, name: str, token_hash: str, expires_at: datetime | None) -> TokenRow:
        with self._write.begin() as session:
            token = ApiToken(user_id=user_id, name=name, token_hash=token_hash, created_at=_now(),
                             expires_at=expires_at, revoked_at=None)
            session.add(token)
            session.flush()
            return _token_row(token)

    def token_by_hash(self, token_hash: str) -> tuple[TokenRow, UserRow] | None:
        with self._read.begin() as session:
            token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
            if token is None:
                return None
            user = session.get(User, token.user_id)
            return None if user is None else (_token_row(token), _user_row(user))

    def list_tokens(self, user_id: int) -> list[TokenRow]:
        with self._read.begin() as session:
            found = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
            return [_token_row(t) for t in found]

    def revoke_token(self, user_id: int, token_id: int) -> bool:
        """Revoke one of the user's tokens; False when the user has no such token."""
        with self._write.begin() as session:
            token = session.get(ApiToken, token_id)
            if token is None or token.user_id != user_id:
                return False
            if token.revoked_at is None:
                token.revoked_at = _now()
            return True

    # roles

    def set_member(self, workspace_id: int, user_id: int, role: str) -> None:
        with self._write.begin() as session:
            member = session.get(WorkspaceMember, (workspace_id, user_id))
            if member is None:
                session.add(WorkspaceMember(workspace_id=workspace_id, user_id=user_id, role=role))
            else:
                member.role = role

    def remove_member(self, workspace_id: int, user_id: int) -> bool:
        with self._write.begin() as session:
            member = session.get(WorkspaceMember, (workspace_id, user_id))
            if member is None:
                return False
            session.delete(member)
            return True

    def role(self, workspace_id: int, user_id: int) -> str | None:
        with self._read.begin() as session:
            member = session.get(WorkspaceMember, (workspace_id, user_id))
            return None if member is None else member.role

    def members(self, workspace_id: int) -> list[MemberRow]:
        with self._read.begin() as session:
            found = session.execute(
                select(WorkspaceMember, User.email).join(User, User.id == WorkspaceMember.user_id)
                .where(WorkspaceMember.workspace_id == workspace_id).order_by(WorkspaceMember.user_id))
            return [MemberRow(m.workspace_id, m.user_id, email, m.role) for m, email in found]

    def workspaces_of(self, user_id: int) -> dict[int, str]:
        """Workspace id -> the user's role there."""
        with self._read.begin() as session:
            found = session.scalars(select(WorkspaceMember).where(WorkspaceMember.user_id == user_id))
            return {m.workspace_id: m.role for m in found}


def _user_row(u: User) -> UserRow:
    return UserRow(u.id, u.email, u.is_admin, u.active, u.created_at, u.password_hash)


def _token_row(t: ApiToken) -> TokenRow:
    return TokenRow(t.id, t.user_id, t.name, t.created_at, t.expires_at, t.revoked_at)
