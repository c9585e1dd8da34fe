"""GET /clicks.csv: what it holds, and that a real server streams a big page in flat memory."""

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.servers import restartable_postgres, running_server
from tests.helpers import CLICKS, migrated_database

CLICKS_CLUSTERS = [0, 0, 1, 0, 2, 2]
BIG_PAGE_CLICKS = 1_000_000


async def export(client: httpx.AsyncClient, page: str, **window: str) -> list[list[str]]:
    response = await client.get("/clicks.csv", params={"page_uuid": page, **window})
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.text)))


async def test_export_holds_the_clicks_in_order_with_their_utc_time(
    client: httpx.AsyncClient, timed_page: str
) -> None:
    page = timed_page
    response = await client.get("/clicks.csv", params={"page_uuid": page})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = f'attachment; filename="clicks-{page.replace("/", "_")}.csv"'
    assert response.headers["content-disposition"] == disposition
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["x", "y", "cluster_idx", "created_at"],
        *(
            [str(x), str(y), str(idx), f"2026-11-30T{9 + n:02d}:00:00.500000Z"]
            for n, ((x, y), idx) in enumerate(zip(CLICKS, CLICKS_CLUSTERS, strict=True), start=1)
        ),
    ]
    rows = await export(client, page, since="2026-11-30T12:00:00Z", until="2026-11-30T14:00:00Z")
    assert [row[3] for row in rows[1:]] == [
        "2026-11-30T12:00:00.500000Z",
        "2026-11-30T13:00:00.500000Z",
    ]
    assert len(await export(client, page, since="2026-11-30T12:00:00Z")) == 1 + 4
    assert len(await export(client, page, until="2026-11-30T12:00:00Z")) == 1 + 2
    assert await export(client, page, since="2026-12-01") == [
        ["x", "y", "cluster_idx", "created_at"]
    ]


def load_clicks(database_url: str, pages: dict[str, int]) -> None:
    """Pages with this many clicks each: only what an export reads, no summaries."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for page, clicks in pages.items():
            conn.execute("INSERT INTO pages (page_uuid) VALUES (%s)", (page,))
            conn.execute(
                "INSERT INTO clicks (page_uuid, seq, x, y, cluster_idx, created_at)"
                " SELECT %s, n, random(), random(), n %% 12, now() + n * interval '1 ms'"
                " FROM generate_series(1, %s) AS n",
                (page, clicks),
            )


@pytest.fixture(scope="module")
def export_database(server_url: str) -> Iterator[str]:
    """A database of its own, so that no other test scans it, with a page of a million clicks,
    "big", and one of a thousand, "small"."""
    with migrated_database(server_url) as url:
        load_clicks(url, {"big": BIG_PAGE_CLICKS, "small": 1_000})
        yield url


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    [kilobytes] = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(kilobytes) * 1024


def reset_peak_rss(pid: int) -> int:
    """Sets the process's peak resident set size to the current one, and answers it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return peak_rss(pid)


async def test_export_of_a_million_clicks_streams_in_flat_memory(export_database: str) -> None:
    # With one worker uvicorn serves from the server process itself: the process to watch. Its
    # deadline for a statement, 0.7 s, is far shorter than the download: each batch has it.
    with running_server(export_database, workers=1, STATEMENT_TIMEOUT_SECONDS="0.2") as server:
        async with server.client() as client:
            # The first export's one-time costs are not the ones measured.
            (await client.get("/clicks.csv", params={"page_uuid": "small"})).raise_for_status()
            before = reset_peak_rss(server.process.pid)
            size = lines = 0
            started = time.monotonic()
            async with client.stream("GET", "/clicks.csv", params={"page_uuid": "big"}) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            took = time.monotonic() - started
            growth = peak_rss(server.process.pid) - before
    assert lines == 1 + BIG_PAGE_CLICKS
    assert took > 0.7
    assert growth < size / 10, f"peak RSS grew {growth / 2**20:.1f} MiB, CSV {size / 2**20:.1f} MiB"


async def test_a_client_that_leaves_mid_export_gives_the_connection_back(
    export_database: str,
) -> None:
    # One worker with one read connection: the next export needs the first one's.
    with running_server(
        export_database, workers=1, READ_POOL_MAX_SIZE="1", POOL_TIMEOUT="10"
    ) as server:
        async with server.client() as client:
            async with client.stream("GET", "/clicks.csv", params={"page_uuid": "big"}) as response:
                await anext(response.aiter_bytes())
            response = await client.get("/clicks.csv", params={"page_uuid": "small"})
            assert (response.status_code, response.text.count("\n")) == (200, 1 + 1_000)


async def test_an_export_that_the_database_cuts_short_is_an_incomplete_transfer(
    export_database: str,
) -> None:
    # A failure after the 200 has gone out must not look like a complete, shorter file.
    with running_server(export_database, workers=1) as server:
        async with (
            server.client() as client,
            client.stream("GET", "/clicks.csv", params={"page_uuid": "big"}) as response,
        ):
            chunks = response.aiter_bytes()
            await anext(chunks)
            async with await psycopg.AsyncConnection.connect(export_database) as conn:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                async for _ in chunks:
                    pass


async def test_an_export_that_a_frozen_database_stops_ends_at_the_deadline(tmp_path: Path) -> None:
    # The download as a whole has no deadline; each step with the database has the statement's.
    deadline_seconds = 1 + 0.5
    with (
        restartable_postgres(tmp_path / "postgres") as postgres,
        running_server(postgres.url, workers=1, STATEMENT_TIMEOUT_SECONDS="1") as server,
    ):
        load_clicks(postgres.url, {"big": 200_000})
        async with (
            server.client() as client,
            client.stream("GET", "/clicks.csv", params={"page_uuid": "big"}) as response,
        ):
            chunks = response.aiter_bytes()
            await anext(chunks)
            with postgres.frozen():
                started = time.monotonic()
                with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                    async for _ in chunks:
                        pass
                assert time.monotonic() - started < deadline_seconds + 1
