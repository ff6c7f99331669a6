"""``wl.auth``: the bearer header Wallaroo code sends with its HTTP inference requests.

Embedded mode has no users, so the ingress does not check tokens; ``auth_header()``
still returns a bearer header (a random token kept in ``JOEY_HOME``), so code written as
``requests.post(pipeline.url(), headers=wl.auth.auth_header(), ...)`` runs unchanged.
The service issue brings real tokens checked by the ingress.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TOKEN_FILE = "embedded-token"


class EmbeddedAuth:
    """Auth of the embedded default: one local token, created on first use."""

    def __init__(self, home: Path) -> None:
        self._path = home / TOKEN_FILE

    def _bearer_token_str(self) -> str:
        """The token (Wallaroo's method name)."""
        if not self._path.exists():
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # Created with owner-only permissions: the token is a secret once auth is on.
            descriptor = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32))
        return self._path.read_text().strip()

    def auth_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``, as Wallaroo's."""
        return {"Authorization": f"Bearer {self._bearer_token_str()}"}
