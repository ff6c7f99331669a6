"""Who a request acts as: its bearer token, checked against the store and cached briefly.

A token that was checked is trusted for ``Settings.service_auth_cache_s`` (2 s) without asking
the store again, so a revoked token stops working within that time while a busy client costs
one dict lookup per request; a token that expires sooner is trusted until it expires only.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from joey.errors import AuthenticationError
from joey.platform.accounts import Accounts, Principal, token_hash

API = "/v1/api"
"""Where every REST endpoint of the service lives."""


def _principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The signed-in user of a request (401 without a valid bearer token), from the app's cache."""
    tokens: TokenCache = request.app.state.tokens
    return tokens.principal(authorization)


Caller = Annotated[Principal, Depends(_principal)]
"""An endpoint's argument for the signed-in user (every endpoint but login takes one)."""


class TokenCache:
    """``authenticate`` with a short-lived cache keyed by the token's hash."""

    MAX_ENTRIES = 10_000
    """Past this many cached tokens, the stale ones are dropped (so the cache stays small)."""

    def __init__(self, accounts: Accounts, ttl_s: float) -> None:
        self._accounts = accounts
        self._ttl_s = ttl_s
        self._known: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def principal(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        key = token_hash(token)
        now = time.monotonic()
        with self._lock:
            cached = self._known.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal, expires_at = self._accounts.authenticate_until(token)
        trusted_s = self._ttl_s
        if expires_at is not None:
            trusted_s = min(trusted_s, (expires_at - datetime.now(UTC)).total_seconds())
        with self._lock:
            if len(self._known) >= self.MAX_ENTRIES:
                self._known = {k: v for k, v in self._known.items() if v[0] > now}
            self._known[key] = (now + trusted_s, principal)
        return principal


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization: expected 'Bearer <token>'")
    return token.strip()
