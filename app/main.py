"""The ASGI app: its lifespan owns the connection pool, and database failures become 503s."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.routes import router
from app.settings import get_settings


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings = get_settings()
    async with AsyncConnectionPool(
        settings.required_database_url(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        kwargs={"autocommit": True},
        connection_class=AsyncConnection,
        open=False,
    ) as pool:
        yield {"pool": pool, "settings": settings}


app = FastAPI(title="clickclust", version="0", lifespan=lifespan)
app.include_router(router)


@app.exception_handler(PoolTimeout)
@app.exception_handler(OperationalError)
async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": "database unavailable"})


@app.exception_handler(RequestValidationError)
async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes each bad input back, which fails on NaN and can be huge.
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})
