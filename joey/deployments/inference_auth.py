"""The ingress's token check when a pipeline was deployed by the service (``spec.inference_auth``).

The ingress asks the control-plane service whether a bearer token may infer on its workspace
and keeps the answer, allowed or not, for ``cache_s`` seconds keyed by the header's sha256: a
client that keeps its token pays a dict lookup per request, and a revoked token stops working
within ``cache_s``. The data plane never reads the control plane's database.
"""

from __future__ import annotations

import copy
import hashlib
import time

import httpx

from joey.errors import AuthenticationError, JoeyError, PermissionDeniedError, error_from_body
from joey.spec import InferenceAuth


class InferenceGate:
    def __init__(self, auth: InferenceAuth, workspace: str) -> None:
        self._auth = auth
        self._workspace = workspace
        self._known: dict[str, tuple[float, JoeyError | None]] = {}
        self._client: httpx.AsyncClient | None = None

    async def check(self, authorization: str | None) -> None:
        """Return when the request may go on; raise the 401 or 403 to answer otherwise."""
        if not authorization:
            raise AuthenticationError()
        key = hashlib.sha256(authorization.encode()).hexdigest()
        now = time.monotonic()
        cached = self._known.get(key)
        if cached is None or cached[0] <= now:
            cached = (now + self._auth.cache_s, await self._ask(authorization))
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[key] = cached
        if cached[1] is not None:
            # a copy without traceback: re-raising the one cached object would grow its traceback
            # on every refused request and share it between concurrent requests
            raise copy.copy(cached[1]).with_traceback(None)

    async def _ask(self, authorization: str) -> JoeyError | None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10)
        try:
            answer = await self._client.post(self._auth.check_url, json={"workspace": self._workspace},
                                             headers={"Authorization": authorization})
        except httpx.HTTPError as exc:
            raise JoeyError(f"the token could not be checked: {exc}") from None
        if answer.status_code == 200:
            return None
        if answer.status_code == 401:
            return error_from_body(answer.json())
        if answer.status_code in (403, 404):
            return PermissionDeniedError("infer", "the token's user is not in this pipeline's workspace")
        raise JoeyError(f"the token check answered {answer.status_code}: {answer.text[:200]}")
