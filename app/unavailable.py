"""503s: the answer to a request the database cannot serve, and why it got one, logged in one
line (plain or JSON, as LOG_FORMAT says) and counted by reason in /metrics."""

import logging
import time

from fastapi import Request
from fastapi.responses import JSONResponse
from psycopg.errors import QueryCanceled
from psycopg_pool import PoolTimeout, TooManyRequests

from app.metrics import STARTED, UNAVAILABLE, route_template
from app.pool import DeadlineError

log = logging.getLogger("clickclust")


class NotAtHeadError(Exception):
    """The database's schema is not at the revision this code expects."""


# What a 503 is counted under, by the exception that gave it.
REASONS: list[tuple[type[Exception], str]] = [
    (NotAtHeadError, "migrations_not_at_head"),
    (TooManyRequests, "queue_full"),
    (PoolTimeout, "pool_timeout"),
    (DeadlineError, "deadline"),
    (QueryCanceled, "statement_timeout"),  # SQLSTATE 57014
]


def reason(exc: Exception) -> str:
    for kind, name in REASONS:
        if isinstance(exc, kind):
            return name
    sqlstate = getattr(exc, "sqlstate", None)
    # No SQLSTATE: libpq lost the connection or was refused one. 08 and 57P: the server's
    # words for the same, or that it is shutting down.
    if sqlstate is None or sqlstate.startswith(("08", "57P")):
        return "connection"
    return "database_error"


async def unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The handler of database failures (OperationalError, which pool timeouts, full queues and
    deadlines are too) and of a schema not at head."""
    why = reason(exc)
    route = route_template(request.scope)
    milliseconds = round((time.perf_counter() - request.scope[STARTED]) * 1000)
    sqlstate = getattr(exc, "sqlstate", None)
    UNAVAILABLE.labels(why).inc()
    log.warning(
        "%s %s answered 503 after %d ms: %s (SQLSTATE %s)",
        request.method,
        route,
        milliseconds,
        why,
        sqlstate,
        extra={
            "method": request.method,
            "route": route,
            "reason": why,
            "sqlstate": sqlstate,
            "duration_ms": milliseconds,
        },
    )
    detail = (
        "migrations are not at head" if isinstance(exc, NotAtHeadError) else "database unavailable"
    )
    return JSONResponse(status_code=503, content={"detail": detail})
