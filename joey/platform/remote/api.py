"""HTTP to the service: JSON posts with the bearer token, error bodies back into typed errors."""

from __future__ import annotations

from typing import Any

import httpx

from joey.config import Settings
from joey.errors import AuthenticationError, JoeyError, error_from_body

API = "/v1/api"
ARROW = "application/vnd.apache.arrow.file"


class RemoteAuth:
    """``wl.auth``: the bearer header of the signed-in user."""

    def __init__(self, token: str) -> None:
        self._token = token

    def _bearer_token_str(self) -> str:
        return self._token

    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


class Api:
    """POST JSON to the service; a JSON error body becomes the typed joey error."""

    def __init__(self, endpoint: str, timeout_s: float) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)
        self.token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return answer_of(self.post_raw(path, body, **kwargs)).json()

    def post_raw(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """The answer itself (for bodies that are not JSON, such as Arrow)."""
        if body is not None:
            kwargs["json"] = body
        return answer_of(self._http.post(f"{self.endpoint}{API}/{path}", headers=self.headers(), **kwargs))


def answer_of(answer: httpx.Response) -> httpx.Response:
    """``answer`` when it succeeded, else the typed joey error its body describes."""
    if answer.status_code < 400:
        return answer
    try:
        body = answer.json()
    except ValueError:
        raise JoeyError(f"{answer.status_code}: {answer.text[:500]}") from None
    raise error_from_body(body)


def sign_in(api: Api, auth_type: str | None, settings: Settings) -> str:
    """A bearer token: ``token`` (``JOEY_TOKEN``), else ``user_password`` (``JOEY_USER`` /
    ``JOEY_PASSWORD``, or Wallaroo's ``WALLAROO_USER`` / ``WALLAROO_PASSWORD``)."""
    if auth_type in (None, "token") and settings.token is not None:
        return settings.token.get_secret_value()
    if auth_type in (None, "user_password") and settings.user and settings.password is not None:
        return str(api.post("auth/login", {"email": settings.user,
                                           "password": settings.password.get_secret_value()})["access_token"])
    raise AuthenticationError(f"auth_type={auth_type!r} needs JOEY_TOKEN, or JOEY_USER and JOEY_PASSWORD "
                              "(WALLAROO_USER and WALLAROO_PASSWORD)")
