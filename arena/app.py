"""`create_app(settings)`: the FastAPI application. The lifespan owns the database engine,
the one HTTP client for model servers, rate limits, metrics and background tasks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sse_starlette.sse import AppStatus

from arena import health
from arena.admin import router as admin_router
from arena.battles import router as battles_router
from arena.battles.recovery import stale_turn_loop
from arena.categories.language import warm_in_background as warm_language_detector
from arena.db import make_engine, make_sessionmaker
from arena.errors import install_error_handlers
from arena.exports import router as exports_router
from arena.leaderboard import router as leaderboard_router
from arena.leaderboard.loop import recompute_loop
from arena.metrics import RequestMetricsMiddleware, make_metrics, serve_metrics
from arena.migrate import require_migrated
from arena.models import router as models_router
from arena.models.canaries import canary_loop
from arena.models.probing import probe_loop
from arena.owners import router as owners_router
from arena.ratelimit import RateLimits
from arena.requestid import RequestIdMiddleware
from arena.responses import FastJSONResponse
from arena.secret_key import resolve_secret_key
from arena.security import SecurityMiddleware
from arena.settings import Settings
from arena.tasks import TaskSet
from arena.votes import router as votes_router
from arena.web.router import install as install_web
from serving.client import make_http_client
from serving.guard import EndpointGuard, make_guarded_client

log = logging.getLogger("arena")


def app_from_env() -> FastAPI:
    """The app with settings from the environment: the factory each uvicorn worker calls
    (`arena serve --workers N`), so every worker reads ARENA_* itself."""
    return create_app(Settings())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolve_secret_key(settings)  # before any cookie or hash; refused on PostgreSQL unset
        # On SIGTERM, sse-starlette would cut every open stream at once; let battle streams
        # finish (and store their turn) within uvicorn's timeout_graceful_shutdown instead.
        AppStatus.enable_automatic_graceful_drain = False
        engine = make_engine(settings.database_url)
        tasks = TaskSet()
        limits = RateLimits(settings)
        metrics_server = None
        try:
            await limits.start()
            require_migrated(engine)
            state = app.state
            state.engine = engine
            state.sessionmaker = make_sessionmaker(engine)
            state.limits = limits
            state.tasks = tasks
            state.http = make_http_client()
            state.guarded_http = make_guarded_client(
                EndpointGuard(allow_private=settings.allow_private_endpoints)
            )
            if settings.metrics_port:
                metrics_server = serve_metrics(
                    state.metrics, settings.metrics_host, settings.metrics_port
                )
            probes = probe_loop(
                state.sessionmaker,
                state.http,
                settings,
                state.guarded_http,
                tasks.pause,
                metrics=state.metrics.serving,
            )
            tasks.spawn(probes, "endpoint-probes")
            canaries = canary_loop(state.sessionmaker, state.guarded_http, settings, tasks.pause)
            tasks.spawn(canaries, "endpoint-canaries")
            tasks.spawn(recompute_loop(state.sessionmaker, settings, tasks.pause), "leaderboard")
            stale = stale_turn_loop(state.sessionmaker, settings, tasks.pause)
            tasks.spawn(stale, "stale-turns")
            # The first turn close would otherwise wait seconds for the language models.
            warm_language_detector()
            yield
        finally:
            await tasks.close()
            if getattr(app.state, "http", None) is not None:
                await app.state.http.aclose()
            if getattr(app.state, "guarded_http", None) is not None:
                await app.state.guarded_http.aclose()
            await limits.close()
            if metrics_server is not None:
                metrics_server[0].shutdown()
                metrics_server[0].server_close()
            engine.dispose()

    app = FastAPI(
        title="Arena",
        version="0.1.0",
        summary="Anonymous battles between language models, votes, and a Bradley-Terry board.",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    app.state.settings = settings
    app.state.metrics = make_metrics()
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: every log line of a request has it
    app.include_router(health.router)
    app.include_router(owners_router.router)
    app.include_router(models_router.router)
    app.include_router(admin_router.router)
    app.include_router(battles_router.router)
    app.include_router(votes_router.router)
    app.include_router(leaderboard_router.router)
    app.include_router(exports_router.router)
    install_web(app)  # pages, /static, HTML error pages; keep last
    return app
