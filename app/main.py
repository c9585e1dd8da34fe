"""The ASGI app: `create_app(settings)` builds it; its lifespan owns the connection pools (one for
the click endpoints and /ready, a smaller one for the read endpoints), and database failures
become 503s."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from psycopg import OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.deps import State
from app.guards import BearerToken, BodySizeLimit, bearer
from app.metrics import RequestMetrics
from app.pool import connection_pool
from app.routes import OPEN_PATHS, PROTECTED, UNAUTHORIZED, probes
from app.schema import head_revision
from app.settings import Settings
from app.unavailable import NotAtHeadError, unavailable


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app, with `settings` or, by default, those of the environment."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        clicks = connection_pool(settings, "clicks", settings.pool_min_size, settings.pool_max_size)
        reads = connection_pool(settings, "reads", 1, settings.read_pool_max_size)
        async with clicks, reads:
            yield State(
                settings=settings, pool=clicks, read_pool=reads, head_revision=head_revision()
            )

    # /docs and /redoc with their scripts and styles served by the app: they work offline.
    app = FastAPIOffline(
        title="clickclust",
        version="0",
        lifespan=lifespan,
        # No OpenTelemetry here (Prometheus's /metrics instead): looking for a provider on every
        # request cost about 4% of a worker's time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    for router in PROTECTED:
        if settings.api_token is None:
            app.include_router(router)
        else:  # the dependency only declares the bearer in the OpenAPI schema
            app.include_router(router, dependencies=[Security(bearer)], responses=UNAUTHORIZED)
    app.include_router(probes)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.api_token is not None:
        # Outside BodySizeLimit: the token is checked before anything reads the body.
        app.add_middleware(BearerToken, token=settings.api_token, open_paths=OPEN_PATHS)
    app.add_middleware(RequestMetrics)
    # Lost or refused connections, pool timeouts and full queues, statement timeouts, deadlines.
    app.add_exception_handler(OperationalError, unavailable)
    app.add_exception_handler(NotAtHeadError, unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    return app


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": errors})


async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI's default echoes each bad input back, which fails on NaN and can be huge.
    assert isinstance(exc, RequestValidationError)
    return unprocessable(
        [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
    )


async def http_error(request: Request, exc: Exception) -> Response:
    # A body that FastAPI could not parse (not UTF-8, nested too deep, a number past Python's
    # digit limit) is invalid JSON like any other: 422, not FastAPI's bare 400.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        message = (
            "Body is not UTF-8"
            if isinstance(exc.__cause__, UnicodeDecodeError)
            else "Body could not be parsed as JSON: nested too deep or a number too long"
        )
        return unprocessable([{"loc": ["body"], "msg": message, "type": "json_invalid"}])
    if exc.status_code == 405:
        exc.headers = {"Allow": ", ".join(allowed_methods(request))}
    return await http_exception_handler(request, exc)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods served at the request's path. Starlette's 405 names only those of the first
    route there, and GET and POST /get_best_cluster are two routes."""
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
