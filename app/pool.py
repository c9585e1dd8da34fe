"""The connection pools: how one is made, how a connection is checked at checkout, the
deadlines that keep a database that does not answer from hanging a request, and a pool's usage
for the metrics. The app's lifespan opens and closes them."""

import asyncio
import math
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from psycopg import AsyncConnection, OperationalError
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from app.settings import Settings

Connection = AsyncConnection[TupleRow]

# Connections given back to the pool less than this ago skip the checkout check: they have just
# answered, and the check is a round trip that costs a save about 7% of its throughput.
CHECK_AFTER_IDLE_SECONDS = 1.0
_returned_at: WeakKeyDictionary[Connection, float] = WeakKeyDictionary()
# A request's connection is cut off this long after the statement timeout: on a server that
# answers, the statement timeout comes first, so only one that does not answer is cut off.
DEADLINE_MARGIN_SECONDS = 0.5
# How long opening a connection may take: libpq's shortest connect_timeout.
CONNECT_TIMEOUT_SECONDS = 2
# When the current getconn() gives up waiting (the loop's clock): the checkout check ends then.
_wait_ends: ContextVar[float] = ContextVar("wait_ends")
# What get_stats() calls the figures the metrics report.
USAGE = ("pool_size", "pool_available", "requests_waiting")


class DeadlineError(OperationalError):
    """The database did not answer in time, and the connection was cut off."""


class Pool(AsyncConnectionPool[Connection]):
    """A pool whose waits and connections have deadlines: a request waits for a connection at
    most the pool's timeout, its checkout check included, and holds one at most `use_seconds`."""

    def __init__(self, conninfo: str, *, use_seconds: float, **kwargs: Any) -> None:
        super().__init__(conninfo, check=self.check_if_idle, **kwargs)
        self.use_seconds = use_seconds
        self.purge: asyncio.Task[None] | None = None

    async def check_if_idle(self, conn: Connection) -> None:
        """The `check` callback: drop a connection that a database restart broke, before a
        request gets it, without a round trip for one that was in use a moment ago. On a broken
        one, check the other idle connections at once, in a task of their own: the pool waits
        about a second before the next checkout, which would otherwise meet the next broken
        connection, and a request could run out of time before it met a good one."""
        if time.monotonic() - _returned_at.get(conn, -math.inf) < CHECK_AFTER_IDLE_SECONDS:
            return
        try:
            async with cut_off_at(conn, _wait_ends.get()):
                await AsyncConnectionPool.check_connection(conn)
        except DeadlineError:
            raise  # a server that does not answer: checking the others would only hang too
        except OperationalError:
            if self.purge is None or self.purge.done():
                self.purge = asyncio.create_task(self.check())
            raise

    async def getconn(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the base pool's
    ) -> Connection:
        wait = self.timeout if timeout is None else timeout
        token = _wait_ends.set(asyncio.get_running_loop().time() + wait)
        try:
            return await super().getconn(wait)
        finally:
            _wait_ends.reset(token)

    @asynccontextmanager
    async def connection(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the base pool's
        use_seconds: float | None = None,
    ) -> AsyncIterator[Connection]:
        """A connection, waited for at most `timeout` seconds and cut off if the block still
        holds it `use_seconds` later (by default, the pool's)."""
        use_seconds = self.use_seconds if use_seconds is None else use_seconds
        async with super().connection(timeout) as conn:
            try:
                async with cut_off_at(conn, asyncio.get_running_loop().time() + use_seconds):
                    yield conn
            finally:
                # Here, not in a `reset` callback: with one, the pool gives connections back in
                # a task of its own, so the next request could find this one not back yet.
                _returned_at[conn] = time.monotonic()


@asynccontextmanager
async def cut_off_at(conn: Connection, end: float) -> AsyncIterator[None]:
    """If the block still runs at `end` (the loop's clock), shut the connection's socket down,
    so that what it awaits from the server fails at once, close the connection and raise
    DeadlineError. Not a cancellation: psycopg answers one by asking the server to cancel the
    statement, and waits up to ten seconds for an answer that a frozen server never gives
    (psycopg#1371)."""
    cut = False

    def cut_off() -> None:
        nonlocal cut
        cut = True
        if not conn.closed:
            # A duplicate descriptor: libpq keeps its own, and closes it with the connection.
            with suppress(OSError), socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
                sock.shutdown(socket.SHUT_RDWR)

    timer = asyncio.get_running_loop().call_at(end, cut_off)
    try:
        yield
    except OperationalError:
        if not cut:
            raise
    finally:
        timer.cancel()
        if cut:
            await conn.close()  # sends nothing that needs an answer; the pool then discards it
    if cut:  # even if an answer came in time to end the block: the connection is gone
        raise DeadlineError("the database did not answer in time")


def connection_pool(settings: Settings, name: str, min_size: int, max_size: int) -> Pool:
    """One of the service's pools, not open yet: `async with` opens it, and closes it."""
    statement_timeout_ms = int(settings.statement_timeout_seconds * 1000)
    return Pool(
        settings.required_database_url(),
        use_seconds=settings.statement_timeout_seconds + DEADLINE_MARGIN_SECONDS,
        name=name,
        min_size=min_size,
        max_size=max_size,
        timeout=settings.pool_timeout,
        max_waiting=settings.pool_max_waiting,
        reconnect_timeout=settings.pool_reconnect_timeout,
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={statement_timeout_ms}",
        },
        connection_class=AsyncConnection,
        open=False,
    )


def usage(pool: Pool) -> dict[str, int]:
    """Connections open and idle, and requests waiting for one."""
    stats = pool.get_stats()
    return {figure: stats.get(figure, 0) for figure in USAGE}
