"""The web dashboard: the caller's workspaces, their models and pipelines, each pipeline's
metrics as charts, its anomaly log and its audit log.

Served by the control-plane service under ``/dashboard`` (:func:`mount`, signing in with the
service's users and tokens) and by ``joey dashboard`` on the embedded default
(:func:`embedded_app`, on 127.0.0.1, signing in with a token printed at start).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from joey.platform.accounts import Accounts
from joey.platform.context import Context
from joey.service.auth import TokenCache
from joey.service.dashboard.routes import PREFIX, dashboard_app
from joey.service.dashboard.session import EmbeddedGate, ServiceGate

__all__ = ["PREFIX", "embedded_app", "mount"]


def mount(app: FastAPI, base: Context, accounts: Accounts, tokens: TokenCache) -> None:
    """Serve the dashboard under ``/dashboard`` of the service's app (outside its OpenAPI)."""
    gate = ServiceGate(base.store, accounts, tokens)
    app.mount(PREFIX, dashboard_app(base, gate, live=True, act=lambda caller: base.acting(caller.email)))


def embedded_app(base: Context, live: bool, token: str | None = None) -> tuple[FastAPI, EmbeddedGate]:
    """The dashboard alone over the embedded default's store, and its gate (whose ``token``
    signs in); ``live``: a Ray is there to ask for pipeline status."""
    gate = EmbeddedGate(base.store, base.actor) if token is None else EmbeddedGate(base.store, base.actor, token)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="joey dashboard")
    app.mount(PREFIX, dashboard_app(base, gate, live=live, act=lambda _caller: base))

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    return app, gate
