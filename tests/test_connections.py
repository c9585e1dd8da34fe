"""Idle, slow and surplus connections, against a real server process: each is bounded."""

import asyncio
import itertools
import time
from contextlib import AbstractContextManager, suppress
from urllib.parse import urlsplit

import httpx
import psycopg

from app.db import LOCK_PAGE
from app.pool import Connection
from harness.servers import Server, running_server
from tests.db_checks import wait_for_lock_waiters
from tests.helpers import SAVE, click, random_prefix

HEADER_TIMEOUT_SECONDS = 1
KEEP_ALIVE_SECONDS = 2
# How late a deadline may close a connection (the server's timer, then this loop), and how early
# (uvloop's timers count from the time its loop iteration began).
LATE_SECONDS = 1.5
EARLY_SECONDS = 0.1


async def connect(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TCP connection to the server."""
    address = urlsplit(server.url)
    return await asyncio.open_connection(address.hostname, address.port)


async def watched(server: Server) -> tuple[asyncio.StreamWriter, float, asyncio.Task[float]]:
    """A connection that sends nothing: its writer, a time before the server can have accepted
    it, and a task that ends when the server closes it, watching from the start."""
    opened = time.monotonic()
    reader, writer = await connect(server)
    return writer, opened, asyncio.create_task(closed(reader))


async def closed(reader: asyncio.StreamReader) -> float:
    """When the server closed the connection, having sent nothing."""
    with suppress(ConnectionResetError):  # it closed while a slowloris was still sending
        assert await reader.read() == b""
    return time.monotonic()


async def slowloris(writer: asyncio.StreamWriter) -> None:
    """A request head sent a byte at a time, never finished, until the server closes."""
    writer.write(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
    for byte in itertools.cycle(b"X-Slow: y\r\n"):
        await asyncio.sleep(0.1)  # the pace of the attack, not a wait for anything
        if writer.is_closing():
            return
        writer.write(bytes([byte]))
        try:
            await writer.drain()
        except ConnectionError:
            return


async def test_idle_and_slowloris_connections_are_closed_at_the_header_deadline(
    database_url: str,
) -> None:
    with running_server(
        database_url, workers=2, HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT_SECONDS)
    ) as server:
        idle = [await watched(server) for _ in range(300)]
        slow = [await watched(server) for _ in range(50)]
        senders = [asyncio.create_task(slowloris(writer)) for writer, _, _ in slow]
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/health")).status_code == 200  # real clients get through
        async with asyncio.timeout(HEADER_TIMEOUT_SECONDS + LATE_SECONDS + 5):
            held = [await closing - opened for _, opened, closing in idle + slow]
            await asyncio.gather(*senders)
        assert min(held) > HEADER_TIMEOUT_SECONDS - EARLY_SECONDS
        assert max(held) < HEADER_TIMEOUT_SECONDS + LATE_SECONDS
        for writer, _, _ in idle + slow:
            writer.close()
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/health")).status_code == 200


def bounded_server(database_url: str) -> AbstractContextManager[Server]:
    return running_server(
        database_url,
        workers=1,
        HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT_SECONDS),
        KEEP_ALIVE_SECONDS=str(KEEP_ALIVE_SECONDS),
    )


async def answered(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
    """A raw connection that has sent one request and read its answer; and when it sent it."""
    reader, writer = await connect(server)
    sent = time.monotonic()
    writer.write(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await reader.readuntil(b'{"status":"ok"}')
    return reader, writer, sent


async def test_a_keep_alive_connection_is_closed_after_keep_alive_seconds(
    database_url: str,
) -> None:
    with bounded_server(database_url) as server:
        reader, writer, sent = await answered(server)
        # Between requests the keep-alive timeout applies, not the (shorter) header deadline.
        async with asyncio.timeout(KEEP_ALIVE_SECONDS + LATE_SECONDS + 5):
            held = await closed(reader) - sent
        assert KEEP_ALIVE_SECONDS - EARLY_SECONDS < held < KEEP_ALIVE_SECONDS + LATE_SECONDS
        writer.close()


async def test_blank_lines_after_a_response_do_not_hold_the_connection(
    database_url: str,
) -> None:
    with bounded_server(database_url) as server:
        reader, writer, sent = await answered(server)

        async def blank_lines() -> None:
            # Each byte used to restart uvicorn's keep-alive wait, and began no request head.
            while not writer.is_closing():
                writer.write(b"\r\n")
                with suppress(ConnectionError):
                    await writer.drain()
                await asyncio.sleep(0.2)  # the pace of the attack, not a wait for anything

        sender = asyncio.create_task(blank_lines())
        async with asyncio.timeout(HEADER_TIMEOUT_SECONDS + LATE_SECONDS + 5):
            held = await closed(reader) - sent
        writer.close()
        await sender
        assert held < HEADER_TIMEOUT_SECONDS + LATE_SECONDS


async def test_requests_beyond_the_concurrency_limit_get_503_then_the_service_recovers(
    conn: Connection, database_url: str
) -> None:
    page = random_prefix()
    await conn.execute("INSERT INTO pages (page_uuid) VALUES (%s)", (page,))
    with running_server(database_url, workers=1, LIMIT_CONCURRENCY="4") as server:
        async with (
            server.client() as client,
            await psycopg.AsyncConnection.connect(database_url) as locker,
        ):
            await locker.execute(LOCK_PAGE, (page,))
            saves = [asyncio.create_task(client.post(SAVE, json=click(page))) for _ in range(3)]
            await wait_for_lock_waiters(conn, 3)
            # Three connections are in use: a fourth reaches the limit.
            for _ in range(5):
                async with httpx.AsyncClient(base_url=server.url) as fresh:
                    response = await fresh.get("/health")
                assert (response.status_code, response.text) == (503, "Service Unavailable")
            await locker.commit()
            assert [(await save).status_code for save in saves] == [200] * 3
            # On one of the client's three connections, now idle: below the limit again.
            assert (await client.get("/health")).status_code == 200
