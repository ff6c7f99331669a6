"""The dashboard's pages: a FastAPI app of its own, mounted under ``/dashboard`` (so the API's
OpenAPI is unchanged and its errors keep their JSON shape), rendering Jinja2 templates.

Pages resolve their caller from the session cookie through the gate (``session``); a
workspace the caller is not in answers the same 404 page as one that does not exist, naming
neither. Everything the browser loads is served from here: ``static/`` (the dashboard's own
CSS and script, and ``static/vendor/``: uPlot, vendored from npm by ``make vendor-dashboard``);
the Content-Security-Policy allows nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from joey.errors import AuthenticationError, EntityNotFoundError, InvalidRequestError, JoeyError
from joey.platform.accounts import Principal
from joey.platform.context import Context
from joey.platform.pipeline import Pipeline, get_pipeline
from joey.platform.store import WorkspaceRow
from joey.service.dashboard import views
from joey.service.dashboard.session import COOKIE, ISSUED_COOKIE, Gate

HERE = Path(__file__).parent
PREFIX = "/dashboard"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
"""Nothing but joey itself: no CDN, no inline script."""


def dashboard_app(base: Context, gate: Gate, live: bool, act: Callable[[Principal], Context]) -> FastAPI:
    """The dashboard over ``base``'s store; ``act`` is the context a caller's reads run in;
    ``live``: ask Ray for pipeline status (else show what the store recorded)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="joey dashboard")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["when"] = _when
    templates.env.filters["num"] = _num
    templates.env.globals["prefix"] = PREFIX
    templates.env.globals["q"] = lambda value: quote(str(value), safe="")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST" and not _same_origin(request):
            return HTMLResponse("cross-origin form refused", status_code=403)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # no-referrer would make forms post Origin: null
        response.headers["X-Frame-Options"] = "DENY"
        if not request.url.path.startswith(f"{PREFIX}/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, values, status_code=status)

    @app.exception_handler(AuthenticationError)
    async def _signed_out(request: Request, exc: AuthenticationError) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"error": str(exc)}, status_code=401)
        target = f"{PREFIX}/login?{urlencode({'next': _here(request)})}"
        response = RedirectResponse(target, status_code=303)
        _forget(response)
        return response

    @app.exception_handler(EntityNotFoundError)
    async def _not_found(request: Request, _: EntityNotFoundError) -> Response:
        return page(request, "not_found.html", 404)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return page(request, "not_found.html", 404)
        return page(request, "error.html", exc.status_code, message=str(exc.detail))

    @app.exception_handler(JoeyError)
    async def _error(request: Request, exc: JoeyError) -> Response:
        return page(request, "error.html", exc.status, message=str(exc))

    def caller_of(request: Request) -> Principal:
        return gate.principal(request.cookies.get(COOKIE))

    def workspace_of(caller: Principal, name: str) -> WorkspaceRow:
        row = base.store.get_workspace(name)
        if row is None or not gate.is_member(caller, row):
            raise EntityNotFoundError("workspace", "")  # the page names nothing
        return row

    def pipeline_of(caller: Principal, workspace: WorkspaceRow, name: str) -> Pipeline:
        try:
            return get_pipeline(act(caller), workspace, name, None)
        except EntityNotFoundError:
            raise EntityNotFoundError("pipeline", "") from None

    def shell(caller: Principal, current: WorkspaceRow | None = None) -> dict[str, Any]:
        """What every signed-in page shows: the caller and the workspace picker."""
        return {"caller": caller, "workspaces": gate.workspaces(caller), "current": current}

    # -- signing in and out ----------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None, token: str | None = None) -> Response:
        if token and not gate.password_login:  # the embedded URL `joey dashboard` prints (never an API token)
            gate.principal(token)
            return _signed_in(token, issued=False, target=_next(next), secure=_https(request))
        return page(request, "login.html", password_login=gate.password_login, next=_next(next))

    @app.post("/login", response_class=HTMLResponse)
    def login(request: Request, email: Annotated[str, Form(max_length=320)] = "",
              password: Annotated[str, Form(max_length=1024)] = "",
              token: Annotated[str, Form(max_length=1024)] = "",
              next: Annotated[str, Form(max_length=2048)] = "") -> Response:
        try:
            if token.strip():
                gate.principal(token.strip())
                return _signed_in(token.strip(), issued=False, target=_next(next), secure=_https(request))
            issued = gate.login(email, password)
        except AuthenticationError as exc:
            return page(request, "login.html", 401, password_login=gate.password_login, next=_next(next),
                        error=str(exc), email=email)
        return _signed_in(issued, issued=True, target=_next(next), secure=_https(request))

    @app.post("/logout")
    def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token and request.cookies.get(ISSUED_COOKIE) == "1":
            with contextlib.suppress(JoeyError):  # expired or revoked already
                gate.logout(gate.principal(token), token)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        _forget(response)
        return response

    # -- pages -----------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        caller = caller_of(request)
        return page(request, "home.html", **shell(caller), quotas=_quotas(act(caller), caller))

    @app.get("/go")
    def go(request: Request, workspace: Annotated[str, Query(max_length=255)]) -> Response:
        """The workspace picker's form (without script)."""
        caller_of(request)
        return RedirectResponse(f"{PREFIX}/w/{quote(workspace, safe='')}", status_code=303)

    @app.get("/w/{workspace}", response_class=HTMLResponse)
    def workspace_page(request: Request, workspace: str) -> Response:
        caller = caller_of(request)
        row = workspace_of(caller, workspace)
        context = act(caller)
        return page(request, "workspace.html", **shell(caller, row), models=views.models(context, row),
                    pipelines=views.pipelines(context, row, live))

    @app.get("/w/{workspace}/audit", response_class=HTMLResponse)
    def audit_page(request: Request, workspace: str, audit_page: int = 1, audit_size: int = views.DEFAULT_PAGE_SIZE,
                   audit_from: str = "", audit_to: str = "") -> Response:
        caller = caller_of(request)
        row = workspace_of(caller, workspace)
        paged = _page(audit_page, audit_size, audit_from, audit_to)
        return page(request, "audit.html", **shell(caller, row), audit=views.audit(act(caller), row, paged),
                    audit_paged=paged, filters={"audit_from": audit_from, "audit_to": audit_to},
                    url=_url_with(request))

    @app.get("/w/{workspace}/p/{pipeline}", response_class=HTMLResponse)
    def pipeline_page(request: Request, workspace: str, pipeline: str, period: str = views.DEFAULT_PERIOD,
                      anomaly_page: int = 1, anomaly_size: int = views.DEFAULT_PAGE_SIZE, anomaly_from: str = "",
                      anomaly_to: str = "", audit_page: int = 1, audit_size: int = views.DEFAULT_PAGE_SIZE,
                      audit_from: str = "", audit_to: str = "") -> Response:
        caller = caller_of(request)
        row = workspace_of(caller, workspace)
        target = pipeline_of(caller, row, pipeline)
        selected = views.period(period)
        now = datetime.now(UTC)
        anomaly_paged = _page(anomaly_page, anomaly_size, anomaly_from, anomaly_to)
        audit_paged = _page(audit_page, audit_size, audit_from, audit_to)
        return page(
            request, "pipeline.html", **shell(caller, row), pipeline=views.pipeline_summary(target, live),
            period=selected, periods=list(views.PERIODS.values()), metrics=views.metrics(target, selected, now),
            series_url=f"{PREFIX}/w/{quote(row.name, safe='')}/p/{quote(target.name(), safe='')}/series.json"
                       f"?period={selected.key}",
            anomalies=views.anomalies(target, anomaly_paged), anomaly_paged=anomaly_paged,
            audit=views.audit(act(caller), row, audit_paged, target), audit_paged=audit_paged,
            filters={"anomaly_from": anomaly_from, "anomaly_to": anomaly_to, "audit_from": audit_from,
                     "audit_to": audit_to, "period": selected.key},
            url=_url_with(request), page_sizes=views.PAGE_SIZES)

    @app.get("/w/{workspace}/p/{pipeline}/series.json")
    def series(request: Request, workspace: str, pipeline: str, period: str = views.DEFAULT_PERIOD) -> Any:
        caller = caller_of(request)
        target = pipeline_of(caller, workspace_of(caller, workspace), pipeline)
        return views.series(target, views.period(period))

    return app


# -- quotas ------------------------------------------------------------------------------------


def _quotas(context: Context, caller: Principal) -> list[dict[str, Any]] | None:
    """QUOTAS: the installation's use against its limits (``joey.platform.quotas``: the policy
    in force and ``usage()``, what its checks count), for admins only, as the service's
    ``admin/get_quotas``; None hides the section."""
    if not caller.is_admin:
        return None
    from joey.platform import quotas

    policy = quotas.current(context.store, context.settings.quotas).policy
    used = quotas.usage(context).by_limit()
    return [{"name": limit.removeprefix("max_").replace("_", " "), "used": used[limit],
             "allowed": getattr(policy, limit)} for limit in quotas.LIMITS]


# -- helpers -----------------------------------------------------------------------------------


def _signed_in(token: str, issued: bool, target: str, secure: bool) -> Response:
    response = RedirectResponse(target, status_code=303)
    for name, value in ((COOKIE, token), (ISSUED_COOKIE, "1" if issued else "0")):
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure, path=PREFIX)
    return response


def _forget(response: Response) -> None:
    for name in (COOKIE, ISSUED_COOKIE):
        response.delete_cookie(name, path=PREFIX, httponly=True, samesite="strict")


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _same_origin(request: Request) -> bool:
    """A form posted from another site is refused (SameSite=Strict keeps the cookie off it
    anyway; this also stops logging a victim in as someone else)."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _here(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def _next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


def _page(number: int, size: int, start: str, end: str) -> views.Page:
    if number < 1:
        raise InvalidRequestError(f"page: expected 1 or more, got {number}")
    if size not in views.PAGE_SIZES:
        raise InvalidRequestError(f"page size: expected one of {list(views.PAGE_SIZES)}, got {size}")
    return views.Page(number, size, _moment(start, "from"), _moment(end, "to"))


def _moment(value: str, field: str) -> datetime | None:
    """A time filter: ISO 8601 (a ``datetime-local`` input's value), UTC unless it says."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequestError(f"{field}: expected a time like 2025-01-31T13:45, got {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _url_with(request: Request) -> Callable[..., str]:
    """``url(name=value, ...)``: this page's URL with those query parameters changed."""
    def url(**changes: Any) -> str:
        params = dict(request.query_params)
        params.update({k: str(v) for k, v in changes.items()})
        return f"{request.url.path}?{urlencode(params)}"

    return url


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"
