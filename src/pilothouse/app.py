"""The API server: application factory, lifespan and the uvicorn entry point.

Where a request enters: the middleware (request id, access log, metrics), then the router
of one capability, included in :func:`create_app`. Process-wide resources live on
``app.state`` from the lifespan on: ``settings`` (effective, jwt_secret resolved),
``database``, ``bus``, ``metrics``, ``health``; routers reach them through
:mod:`pilothouse.dependencies`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import uvicorn
from fastapi import FastAPI

from pilothouse import __version__
from pilothouse.actions.router import actions_lifespan
from pilothouse.actions.router import router as actions_router
from pilothouse.audit.router import router as audit_router
from pilothouse.auth.router import auth_lifespan
from pilothouse.auth.router import router as auth_router
from pilothouse.auth.token_router import router as auth_tokens_router
from pilothouse.auth.token_router import token_lifespan
from pilothouse.bus import create_bus
from pilothouse.clusters.router import clusters_lifespan
from pilothouse.clusters.router import lean_router as clusters_lean_router
from pilothouse.clusters.router import router as clusters_router
from pilothouse.commands.router import commands_lifespan
from pilothouse.commands.router import lean_router as commands_lean_router
from pilothouse.commands.router import router as commands_router
from pilothouse.contexts.router import contexts_lifespan
from pilothouse.contexts.router import router as contexts_router
from pilothouse.errors import ErrorBody, install_error_handlers
from pilothouse.events.router import router as events_router
from pilothouse.insights.router import insights_lifespan
from pilothouse.insights.router import router as insights_router
from pilothouse.investigations.router import investigations_lifespan
from pilothouse.investigations.router import router as investigations_router
from pilothouse.metrics.router import router as metrics_router
from pilothouse.namespaces.router import router as namespaces_router
from pilothouse.observability.health import HealthChecker
from pilothouse.observability.logging import configure_logging, get_logger
from pilothouse.observability.metrics import Metrics
from pilothouse.observability.middleware import RequestBodyLimitMiddleware, RequestContextMiddleware
from pilothouse.observability.router import router as system_router
from pilothouse.pods.router import pods_lifespan
from pilothouse.pods.router import router as pods_router
from pilothouse.pods.shell import router as shell_router
from pilothouse.pods.shell import shell_lifespan
from pilothouse.ratelimit.middleware import RateLimitHeadersMiddleware
from pilothouse.ratelimit.router import rate_limiter_lifespan
from pilothouse.ratelimit.router import router as ratelimit_router
from pilothouse.resources.router import router as resources_router
from pilothouse.routing import LeanFastAPI
from pilothouse.runtime import settle_garbage_collector
from pilothouse.serving import server_options
from pilothouse.sessions.router import router as sessions_router
from pilothouse.sessions.router import sessions_lifespan
from pilothouse.settings import ConfigurationError, Settings, ensure_jwt_secret
from pilothouse.store.database import Database
from pilothouse.store.migrate import upgrade_to_head
from pilothouse.topology.router import router as topology_router
from pilothouse.tunnel.router import router as tunnel_router
from pilothouse.tunnel.router import tunnel_lifespan
from pilothouse.watch.router import router as watch_router
from pilothouse.watch.router import watch_lifespan

log = get_logger(__name__)

DESCRIPTION = (
    "Safe, audited access to Kubernetes clusters for AI agents and their supervisors. "
    "Errors share one body: see the `error`, `message`, `details.code` and `request_id` fields."
)


# Each capability's lifespan creates its service on app.state; they start in this order, after
# the database and the bus, and stop in reverse. Later ones use earlier ones: sessions need the
# cluster registry; commands the registry and sessions; the Cluster API's targets need the
# registry and the tunnel hub; investigations propose actions.
CAPABILITY_LIFESPANS: Sequence[Callable[[FastAPI], AbstractAsyncContextManager[None]]] = (
    rate_limiter_lifespan,
    auth_lifespan,
    token_lifespan,
    clusters_lifespan,
    sessions_lifespan,
    commands_lifespan,
    tunnel_lifespan,
    contexts_lifespan,
    pods_lifespan,
    shell_lifespan,
    watch_lifespan,
    actions_lifespan,
    investigations_lifespan,
    insights_lifespan,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = ensure_jwt_secret(app.state.settings)
    app.state.settings = settings
    async with AsyncExitStack() as stack:
        database = Database(settings.database_url)
        await database.connect()
        stack.push_async_callback(database.dispose)
        revision = None
        if settings.migrate_on_start:
            revision = await upgrade_to_head(settings.database_url, engine=database.engine)

        bus = create_bus(settings)
        stack.push_async_callback(bus.close)
        if not await bus.ping():
            # Fail at start rather than serve requests that cannot reach their executors.
            raise ConfigurationError(f"the message bus is not reachable (redis_url={settings.redis_url!r})")

        app.state.database = database
        app.state.bus = bus
        app.state.health = HealthChecker(database, bus, redis_configured=settings.redis_url is not None)
        for capability_lifespan in CAPABILITY_LIFESPANS:
            await stack.enter_async_context(capability_lifespan(app))
        log.info(
            "server_ready",
            version=__version__,
            database=database.dialect_name,
            revision=revision,
            bus="redis" if settings.redis_url else "inproc",
        )
        yield
        log.info("server_stopping")


def create_app(settings: Settings) -> FastAPI:
    app = LeanFastAPI(
        title="Pilothouse",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # Every error is the common body, so document it once as each route's default
        # response; this also replaces FastAPI's own 422 schema, which we never send.
        responses={"default": {"model": ErrorBody, "description": "Error (the common error body)"}},
        # FastAPI's native OpenTelemetry: off. Metrics are ours (/metrics); with it on, every
        # request asks OpenTelemetry whether a provider is configured (~15 µs).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    # No default_response_class: FastAPI 0.165 deprecates ORJSONResponse and serialises
    # declared response models to JSON bytes through pydantic itself, which is faster.
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    # Added last = outermost: the request context wraps everything, including the 413. The
    # routes every command passes through (lean routes) get these too, and no other middleware.
    app.add_middleware(RequestBodyLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)

    # Capability routers are included here, one line each, so this function lists every place a
    # request can enter. Routing tries routes in this order, one after the other, at a cost per
    # route tried: the routes every command passes through come first, then the Cluster API and
    # the AI API, then the administrative routes.
    app.include_router(commands_lean_router)
    app.include_router(clusters_lean_router)
    app.include_router(commands_router)
    app.include_router(clusters_router)
    app.include_router(sessions_router)
    app.include_router(tunnel_router)
    app.include_router(contexts_router)
    app.include_router(resources_router)
    app.include_router(namespaces_router)
    app.include_router(events_router)
    app.include_router(metrics_router)
    app.include_router(topology_router)
    app.include_router(pods_router)
    app.include_router(shell_router)
    app.include_router(watch_router)
    app.include_router(actions_router)
    app.include_router(investigations_router)
    app.include_router(insights_router)
    app.include_router(auth_router)
    app.include_router(auth_tokens_router)
    app.include_router(ratelimit_router)
    app.include_router(audit_router)
    app.include_router(system_router)
    # Outermost: puts X-RateLimit-* (the limits the handlers counted) on every response that
    # leaves, the middleware's own 500 included.
    app.add_middleware(RateLimitHeadersMiddleware)
    return app


def run_server(settings: Settings) -> None:
    """Serve the API with uvicorn until interrupted (``pilothouse serve``)."""
    configure_logging(settings.log_level, settings.log_format)
    settle_garbage_collector()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        **server_options(log_level=settings.log_level.lower()),
    )
