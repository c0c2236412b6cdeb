"""`create_app(settings)`: the application, wired together, and its lifespan.

This is where the layers meet: the real-time layer gets from here what it must not know itself
(how a token maps to a user, the audit log, the host's figures, forwarder health), the DNS and
monitoring parts get the event service, and the HTTP API gets everything through `app.state`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from . import audit, runtime_settings
from .api import audit as audit_api
from .api import auth as auth_api
from .api import demo as demo_api
from .api import events as events_api
from .api import forwarders as forwarders_api
from .api import integrations as integrations_api
from .api import ops as ops_api
from .api import rpz as rpz_api
from .api import settings as settings_api
from .api import users as users_api
from .api import webhooks as webhooks_api
from .api import websocket as websocket_api
from .api import zones as zones_api
from .api.errors import ApiError
from .auth.access_cache import AccessCache
from .auth.sessions import TokenRefused, current_access
from .auth.tokens import signing_key
from .auth.users import ensure_initial_admin
from .config import Settings
from .db import Database
from .dns.bind import BindDeployer
from .integrations.alertmanager import AlertmanagerNotifier
from .integrations.health_metrics import HealthCollector
from .integrations.webhooks import WebhookService
from .limits import BodyLimit
from .logs import configure_logging
from .monitoring.forwarders import ForwarderMonitor
from .monitoring.system import HostFigures
from .realtime import endpoint
from .realtime.access import AccessSnapshot
from .realtime.broker import BrokerUnavailable
from .realtime.events import Event, EventType
from .realtime.protocol import CloseCode
from .realtime.runtime import AuthError, Principal, Realtime

log = logging.getLogger("hybrid_dns")
UNREADABLE_BODY = "There was an error parsing the body"  # FastAPI's 400 detail for a body it cannot decode


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)
    secret_key = signing_key(settings)  # a weak key stops the start here (WeakSecretKey), before any file
    db = Database(settings.database_url)

    # Sockets check their token against a snapshot of the users and sign-outs (one read every
    # WEBSOCKET_ACCESS_RECHECK_INTERVAL, changes applied as they are heard of): a reconnect storm
    # costs no database round trip per socket. HTTP requests read the database (authenticate_token).
    tokens = AccessCache(db, lambda: settings.WEBSOCKET_ACCESS_RECHECK_INTERVAL)

    async def authenticate(token: str | None) -> Principal:
        # The same answer as every HTTP request's check; the database is the truth for the role, here
        # (within the cache's bound) and at every access re-check (realtime/access.py).
        try:
            user = await tokens.current_user(secret_key, token)
        except TokenRefused as exc:
            code = CloseCode.FORBIDDEN if exc.user_not_allowed else CloseCode.UNAUTHORIZED
            raise AuthError(code, exc.reason) from None
        return Principal(user_id=user.username, role=user.role, expires_at=user.expires_at, jti=user.jti)

    async def check_access(users: frozenset[str], sessions: frozenset[str]) -> AccessSnapshot:
        # Open sockets keep up with the database: disabled, deleted, demoted users and signed-out sessions.
        roles, revoked = await current_access(db, users, sessions)
        return AccessSnapshot(roles=roles, revoked=revoked)

    realtime = Realtime(
        settings,
        authenticate,
        db,
        check_access=check_access,
        audit=functools.partial(audit.record_all, db),
        host_figures=HostFigures(settings.DATA_DIR),
    )
    bind = BindDeployer(settings, db, realtime.service)
    monitor = ForwarderMonitor(settings, db, realtime.service)
    realtime.health_producer.source = monitor.snapshot
    monitor.emits = lambda: realtime.leader
    realtime.hub.event_hooks.append(runtime_settings.event_hook(settings, db))
    realtime.hub.event_hooks.append(functools.partial(_account_event, tokens))
    realtime.access_listeners.append(lambda user, jti: tokens.forget_user(user) if jti is None else tokens.revoke(jti))
    # Alerts to Alertmanager (when ALERTMANAGER_URL is set), and the forwarder and broker gauges of /metrics.
    alerting = AlertmanagerNotifier(
        settings,
        realtime.metrics.registry,
        is_leader=lambda: realtime.leader,
        history=realtime.broker.history,
        last_seq=lambda: realtime.hub.last_seq,
        forwarders=monitor.snapshot,
        bind_result=lambda: bind.last_result,
        instance_id=realtime.instance_id,
    )
    realtime.hub.event_hooks.append(alerting.observe)
    HealthCollector(
        realtime.metrics.registry,
        forwarders=lambda: [state.as_dict() for state in monitor.forwarders.values()],
        broker_kind=lambda: realtime.broker_kind,
        broker_healthy=lambda: realtime.broker.healthy,
    )
    webhooks = WebhookService(settings, db, realtime, secret_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.create_all()
        password = await ensure_initial_admin(db, settings.DATA_DIR)
        if password is not None:
            # Printed once, to the terminal only (never to a log), and kept in a 0600 file.
            print(
                f"\nCreated the first user 'admin' with password: {password}\n"
                f"(also written to {settings.DATA_DIR / 'initial-admin-password'}, readable by you only)\n",
                file=sys.stderr,
                flush=True,
            )
        await runtime_settings.load(db, settings)
        await realtime.start()
        await webhooks.start()
        await bind.start()
        await monitor.start()
        await alerting.start()
        try:
            yield
        finally:
            await alerting.close()
            await monitor.close()
            await bind.close()
            await webhooks.close()
            await realtime.stop()
            await db.dispose()

    # The interactive documentation is served with its assets from this server (mount_docs), not from a
    # CDN: DNS servers often live on management networks with no way out.
    app = HybridDNS(
        realtime,
        BodyLimit.for_settings(settings),
        title="Hybrid DNS Server",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.access_cache = tokens
    app.state.secret_key = secret_key
    app.state.realtime = realtime
    app.state.bind = bind
    app.state.forwarder_monitor = monitor
    app.state.alertmanager = alerting
    app.state.webhooks = webhooks

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A 422 that says which field is wrong and why, without echoing the input back.
        errors = [
            {"field": _field_name(err.get("loc", ())), "message": _message(err)}
            for err in exc.errors()
            if not _omitted_alternative(err)
        ]
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"detail": message, "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Every error in one shape (api/contract.py ErrorBody), headers kept (Retry-After, WWW-Authenticate).
        if exc.status_code == 400 and exc.detail == UNREADABLE_BODY:
            # FastAPI's answer to a body that is not UTF-8 text: a bad body, like any other, is a 422.
            errors = [{"field": "body", "message": "not valid JSON text (UTF-8)"}]
            return JSONResponse({"detail": "body: not valid JSON text (UTF-8)", "errors": errors}, status_code=422)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path; a path served by
            # several routes (GET and POST /api/zones) allows all of theirs.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        body = exc.body() if isinstance(exc, ApiError) else {"detail": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(BrokerUnavailable)
    async def broker_unavailable(_: Request, exc: BrokerUnavailable) -> JSONResponse:
        # The publish timed out: it may or may not have reached the broker (demo emits take an Idempotency-Key).
        return JSONResponse(
            {"detail": "event broker unavailable; try again"}, status_code=503, headers={"Retry-After": "1"}
        )

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.include_router(auth_api.router)
    app.include_router(websocket_api.router)
    app.include_router(events_api.router)
    app.include_router(zones_api.router)
    app.include_router(rpz_api.router)
    app.include_router(forwarders_api.router)
    app.include_router(users_api.router)
    app.include_router(settings_api.router)
    app.include_router(audit_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(ops_api.router)
    app.include_router(integrations_api.router)
    mount_docs(app)
    if settings.WEBSOCKET_DEMO_ENABLED:
        app.include_router(demo_api.router)
    frontend = settings.frontend_dir
    if frontend is not None:
        mount_frontend(app, frontend)
    else:
        log.info("no built dashboard found (frontend/dist); serving the API only")
    return app


class HybridDNS(FastAPI):
    """FastAPI, with the WebSocket endpoint in front of everything and request bodies bounded.

    `/ws/{connection_type}/{user_id}` is served here, before FastAPI's middleware and routes: a
    connection lives for hours, and each layer it passed through would keep its frame alive that
    long. Every other request goes through FastAPI, whose middleware stack has `BodyLimit` outermost.
    Both are part of the app, so any server that runs it serves them.
    """

    def __init__(self, realtime: Realtime, body_limit: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.realtime = realtime
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            ws = endpoint.route(scope)
            if ws is not None:
                await endpoint.serve(self.realtime, scope, receive, send, *ws)
                return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        return self.body_limit(super().build_middleware_stack())


def _account_event(tokens: AccessCache, event: Event) -> None:
    """A change to a user or a sign-out, made on any instance, reaches the sockets' token cache."""
    if event.type is EventType.USER_UPDATED and event.target_user:
        tokens.forget_user(event.target_user)
    elif event.type is EventType.SESSION_EXPIRED:
        session_id = event.data.get("session_id")
        if isinstance(session_id, str):
            tokens.revoke(session_id)


def _allowed_methods(request: Request) -> list[str]:
    """The methods the API's operations (not the dashboard's catch-all routes) allow on this path."""
    methods: set[str] = set()
    for route in _api_routes(request.app.router.routes):
        if route.include_in_schema and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return sorted(methods)


def _api_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    """Every operation, also inside included routers (FastAPI 0.165 keeps an included router as one
    entry of the app's routes, holding the router it was given)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(inner.routes)


def _omitted_alternative(err: Any) -> bool:
    """The "should be None" half of an error on an `X | Omitted` field (api/contract.py): only X's half matters."""
    loc = err.get("loc", ())
    return bool(loc) and loc[-1] == "none" and err.get("type") == "none_required"


def _message(err: Any) -> str:
    """A check of our own (a validator raising ValueError) speaks for itself, without pydantic's
    "Value error, " in front."""
    error = (err.get("ctx") or {}).get("error")
    if err.get("type") == "value_error" and isinstance(error, ValueError):
        return str(error)
    return str(err["msg"])


def _field_name(loc: Sequence[Any]) -> str:
    """`errors[].field`: the path to the wrong value (`records.0.ttl`), without pydantic's validator tags."""
    parts = [str(p) for p in loc if p != "body" and not (isinstance(p, str) and ("[" in p or "`" in p))]
    return ".".join(parts) or "body"


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs, its script and style from the fastapi-swagger package's copy of swagger-ui-dist."""
    assets = Path(str(importlib.resources.files("fastapi_swagger") / "resources"))
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title}: API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon-32x32.png",
        )


def mount_frontend(app: FastAPI, root: Path) -> None:
    """The dashboard: hashed assets as static files, every other page path gets index.html (client routing)."""
    index = root / "index.html"
    if (root / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=root / "assets"), name="assets")
    reserved = ("api/", "ws/", "assets/", "docs-assets/")
    # Top-level files (favicon, robots.txt...) are known at start-up: no file-system look-up per request.
    top_level = {p.name: p for p in root.iterdir() if p.is_file() and p.name != "index.html"}

    @app.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown_api(request: Request) -> JSONResponse:
        # An /api/ path never falls through to the dashboard: 405 for a known path and another method, else 404.
        allowed = _allowed_methods(request)
        if allowed:
            return JSONResponse(
                {"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": ", ".join(allowed)}
            )
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    @app.get("/{path:path}", include_in_schema=False)
    async def dashboard(path: str) -> FileResponse:
        if path in top_level:
            return FileResponse(top_level[path])
        if path.startswith(reserved):
            raise HTTPException(404, "not found")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
