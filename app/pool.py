"""The connection pools: how one is made, how a connection is checked at checkout, and a pool's
usage for the metrics. The app's lifespan opens and closes them."""

import math
import time
from weakref import WeakKeyDictionary

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from app.settings import Settings

Connection = AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Connection]

# Connections given back to the pool less than this ago skip the checkout check: they have just
# answered, and the check is a round trip that costs a save about 7% of its throughput.
CHECK_AFTER_IDLE_SECONDS = 1.0
_returned_at: WeakKeyDictionary[Connection, float] = WeakKeyDictionary()
# What get_stats() calls the figures the metrics report.
USAGE = ("pool_size", "pool_available", "requests_waiting")


async def note_returned(conn: Connection) -> None:
    """The pool's `reset` callback: when the connection was last given back."""
    _returned_at[conn] = time.monotonic()


async def check_if_idle(conn: Connection) -> None:
    """The pool's `check` callback: drop a connection that a database restart broke, before a
    request gets it, without a round trip for one that was in use a moment ago."""
    if time.monotonic() - _returned_at.get(conn, -math.inf) >= CHECK_AFTER_IDLE_SECONDS:
        await AsyncConnectionPool.check_connection(conn)


def connection_pool(settings: Settings, name: str, min_size: int, max_size: int) -> Pool:
    """One of the service's pools, not open yet: `async with` opens it, and closes it."""
    statement_timeout_ms = int(settings.statement_timeout_seconds * 1000)
    return AsyncConnectionPool(
        settings.required_database_url(),
        name=name,
        min_size=min_size,
        max_size=max_size,
        timeout=settings.pool_timeout,
        max_waiting=settings.pool_max_waiting,
        reconnect_timeout=settings.pool_reconnect_timeout,
        check=check_if_idle,
        reset=note_returned,
        kwargs={"autocommit": True, "options": f"-c statement_timeout={statement_timeout_ms}"},
        connection_class=AsyncConnection,
        open=False,
    )


def usage(pool: Pool) -> dict[str, int]:
    """Connections open and idle, and requests waiting for one."""
    stats = pool.get_stats()
    return {figure: stats.get(figure, 0) for figure in USAGE}
