"""The ASGI app: its lifespan owns the connection pool, and database failures become 503s."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool
from starlette.exceptions import HTTPException

from app import db
from app.guards import BodySizeLimit
from app.metrics import RequestMetrics
from app.migrations import head_revision
from app.routes import router
from app.settings import get_settings


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings = get_settings()
    statement_timeout_ms = int(settings.statement_timeout_seconds * 1000)
    async with AsyncConnectionPool(
        settings.required_database_url(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        max_waiting=settings.pool_max_waiting,
        reconnect_timeout=settings.pool_reconnect_timeout,
        check=db.check_if_idle,
        reset=db.note_returned,
        kwargs={"autocommit": True, "options": f"-c statement_timeout={statement_timeout_ms}"},
        connection_class=AsyncConnection,
        open=False,
    ) as pool:
        yield {"pool": pool, "settings": settings, "head_revision": head_revision()}


app = FastAPI(title="clickclust", version="0", lifespan=lifespan)
app.include_router(router)
app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_body_bytes)
app.add_middleware(RequestMetrics)


@app.exception_handler(OperationalError)
async def database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
    # Lost or refused connections, pool timeouts and full queues, statement timeouts.
    return JSONResponse(status_code=503, content={"detail": "database unavailable"})


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": errors})


@app.exception_handler(RequestValidationError)
async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes each bad input back, which fails on NaN and can be huge.
    return unprocessable(
        [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
    )


@app.exception_handler(HTTPException)
async def http_error(request: Request, exc: HTTPException) -> Response:
    # A body that is not UTF-8 is not JSON either: 422 like any other, not FastAPI's bare 400.
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return unprocessable(
            [{"loc": ["body"], "msg": "Body is not UTF-8", "type": "json_invalid"}]
        )
    return await http_exception_handler(request, exc)
