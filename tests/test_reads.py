"""The read API: a page's clusters, in a time window, and its biggest cluster."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app import db
from app.pool import Connection
from harness.servers import running_server
from tests.db_checks import wait_for_backends
from tests.helpers import (
    BEST_CLUSTER_NEW_WAYS,
    PAGE_READS,
    PREDICT,
    SAVE,
    ask,
    click,
    random_prefix,
    save_all,
)


async def test_clusters_of_a_page(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get("/clusters", params={"page_uuid": page})
    clusters = response.json()
    assert [(c["cluster_idx"], c["size"]) for c in clusters] == [(0, 3), (1, 1), (2, 2)]
    assert clusters[0]["centroid"] == pytest.approx({"x": 0.62 / 3, "y": 0.63 / 3})
    members = [(0.2, 0.2), (0.22, 0.2), (0.2, 0.23)]
    squares = [(x - 0.62 / 3) ** 2 + (y - 0.21) ** 2 for x, y in members]
    assert clusters[0]["radius"] == pytest.approx((sum(squares) / 3) ** 0.5)  # RMS distance
    assert clusters[1] == {
        "cluster_idx": 1,
        "size": 1,
        "centroid": {"x": 0.7, "y": 0.7},
        "radius": 0,
    }
    assert clusters[2]["radius"] == pytest.approx(0.005)
    assert set(clusters[0]) == {"cluster_idx", "size", "centroid", "radius"}


async def test_clusters_in_a_time_window(
    client: httpx.AsyncClient, conn: Connection, page: str
) -> None:
    await conn.execute(
        "UPDATE clicks SET created_at = created_at - interval '2 days'"
        " WHERE page_uuid = %s AND x = 0.2",
        (page,),
    )
    await db.rebuild_summaries(conn, page)  # the rollups, as if those clicks came 2 days ago
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = await client.get("/clusters", params={"page_uuid": page, "since": since})
    assert [(c["cluster_idx"], c["size"]) for c in response.json()] == [(0, 1), (1, 1), (2, 2)]
    until = since
    response = await client.get("/clusters", params={"page_uuid": page, "until": until})
    assert [(c["cluster_idx"], c["size"]) for c in response.json()] == [(0, 2)]


@pytest.mark.parametrize("route", PAGE_READS)
async def test_an_unknown_page_is_404_on_every_read(client: httpx.AsyncClient, route: str) -> None:
    response = await client.get(route, params={"page_uuid": random_prefix()})
    assert (response.status_code, response.json()) == (404, {"detail": "page not found"})


@pytest.mark.parametrize(
    ("window", "sizes"),
    [
        ({"since": "2026-01-01T22:40:00Z"}, [3, 1, 2]),  # January 1 overlaps: all of it
        ({"since": "2026-01-02"}, []),
        ({"until": "2026-01-01"}, []),
        ({"until": "2026-01-01T00:00:01Z"}, [3, 1, 2]),
        ({"since": "2026-01-02T05:00:00+05:30", "until": "2026-01-02T05:29:59+05:30"}, [3, 1, 2]),
        ({"since": "2026-01-02T05:30:00+05:30"}, []),
    ],
)
async def test_windows_count_each_utc_day_they_overlap_whole(
    client: httpx.AsyncClient, conn: Connection, page: str, window: dict[str, str], sizes: list[int]
) -> None:
    await conn.execute(
        "UPDATE clicks SET created_at = '2026-01-01T10:20:00Z' WHERE page_uuid = %s", (page,)
    )
    await db.rebuild_summaries(conn, page)  # the clicks' rollups now fall on January 1
    response = await client.get("/clusters", params={"page_uuid": page, **window})
    assert [c["size"] for c in response.json()] == sizes


@pytest.mark.parametrize("since", ["yesterday", "1764460800", "1.5", ""])
async def test_bad_time_window_is_422(client: httpx.AsyncClient, since: str) -> None:
    response = await client.get("/clusters", params={"page_uuid": "p", "since": since})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]


# Offsets of +01:00 as ±HH:MM, ±HHMM and ±HH; a raw `+` in a query string means a space.
@pytest.mark.parametrize(("since", "until"), [("+01:00", "+0100"), ("%2B01:00", "%2B01")])
async def test_an_offset_is_read_with_its_plus_sent_raw_or_encoded(
    client: httpx.AsyncClient, timed_page: str, since: str, until: str
) -> None:
    window = f"since=2026-11-30T13:00:00{since}&until=2026-11-30T15:00:00{until}"
    response = await client.get(f"/clicks.csv?page_uuid={timed_page}&{window}")
    assert response.status_code == 200
    times = [row.split(",")[3] for row in response.text.splitlines()[1:]]
    assert times == ["2026-11-30T12:00:00.500000Z", "2026-11-30T13:00:00.500000Z"]


async def test_time_window_without_offset_is_utc(client: httpx.AsyncClient, page: str) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    response = await client.get("/clusters", params={"page_uuid": page, "until": tomorrow})
    assert [c["size"] for c in response.json()] == [3, 1, 2]
    response = await client.get("/clusters", params={"page_uuid": page, "since": tomorrow})
    assert response.json() == []


async def test_best_cluster_is_the_biggest(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get("/get_best_cluster", params={"page_uuid": page})
    assert response.json() == {
        "cluster": {
            "cluster_idx": 0,
            "all_coordinates": [{"x": 0.2, "y": 0.2}, {"x": 0.22, "y": 0.2}, {"x": 0.2, "y": 0.23}],
        }
    }
    limited = await client.get("/get_best_cluster", params={"page_uuid": page, "limit": 2})
    assert len(limited.json()["cluster"]["all_coordinates"]) == 2


async def test_best_cluster_ties_go_to_the_lower_idx(client: httpx.AsyncClient) -> None:
    page = random_prefix()
    await save_all(client, page, [(0.1, 0.1), (0.9, 0.9), (0.9, 0.91), (0.1, 0.11)])
    response = await client.get("/get_best_cluster", params={"page_uuid": page})
    assert response.json()["cluster"]["cluster_idx"] == 0


@pytest.mark.parametrize("limit", [0, "many"])
async def test_best_cluster_limit_is_bounded(client: httpx.AsyncClient, limit: int | str) -> None:
    response = await client.get("/get_best_cluster", params={"page_uuid": "p", "limit": limit})
    assert response.status_code == 422


async def test_best_cluster_holds_all_of_its_clicks_by_default(
    client: httpx.AsyncClient, conn: Connection
) -> None:
    page = random_prefix()
    clicks = [(0.5 + n % 7 / 1000, 0.5 - n % 5 / 1000) for n in range(1_500)]
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "SELECT FROM save_click(%s, %s, %s, 0.04)", [(page, x, y) for x, y in clicks]
        )
    expected = [{"x": x, "y": y} for x, y in clicks]
    for limit in [{}, {"limit": 10**20}]:
        response = await client.get("/get_best_cluster", params={"page_uuid": page, **limit})
        assert response.json()["cluster"]["all_coordinates"] == expected


@pytest.mark.parametrize(("method", "route"), BEST_CLUSTER_NEW_WAYS)
async def test_best_cluster_by_either_name_and_method_is_the_same(
    client: httpx.AsyncClient, page: str, method: str, route: str
) -> None:
    queries: list[dict[str, Any]] = [{"page_uuid": page}, {"page_uuid": page, "limit": 2}]
    for query in queries:
        expected = await client.get("/get_best_cluster", params=query)
        response = await ask(client, method, route, **query)
        assert (response.status_code, response.content) == (200, expected.content)
    unknown = await ask(client, method, route, page_uuid=random_prefix())
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "page not found"})
    bad_queries: list[dict[str, Any]] = [{"page_uuid": page, "limit": 0}, {"colour": "red"}]
    for bad in bad_queries:
        assert (await ask(client, method, route, **bad)).status_code == 422


@pytest.mark.parametrize("route", ["/get_best_cluster", "/get_best_cluster_api"])
async def test_best_cluster_by_post_needs_json(
    client: httpx.AsyncClient, page: str, route: str
) -> None:
    body = json.dumps({"page_uuid": page})
    response = await client.post(route, content=body, headers={"content-type": "text/plain"})
    assert (response.status_code, response.json()) == (
        415,
        {"detail": "Content-Type must be application/json"},
    )


async def test_best_cluster_allows_get_and_post(client: httpx.AsyncClient) -> None:
    for route in ["/get_best_cluster", "/get_best_cluster_api"]:
        response = await client.put(route, params={"page_uuid": "p"})
        assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")


async def test_reads_that_exhaust_their_pool_leave_saves_and_predicts_theirs(
    conn: Connection, database_url: str
) -> None:
    # A page whose clusters have ten years of daily rollups: reading them keeps a connection
    # busy for a while.
    page = random_prefix()
    await conn.execute("INSERT INTO pages (page_uuid) VALUES (%s)", (page,))
    await conn.execute(
        "INSERT INTO clicks (page_uuid, seq, x, y, cluster_idx, created_at)"
        " SELECT %s, i, random(), random(), i / 3650, now() - i %% 3650 * interval '1 day'"
        " FROM generate_series(1, 50 * 3650) AS i",
        (page,),
    )
    await db.rebuild_summaries(conn, page)
    read_pool_max_size = 2
    with running_server(
        database_url, workers=1, POOL_MAX_SIZE="4", READ_POOL_MAX_SIZE=str(read_pool_max_size)
    ) as server:
        async with server.client() as client:
            done = asyncio.Event()

            async def read_until_done() -> None:
                while not done.is_set():
                    response = await client.get("/clusters", params={"page_uuid": page})
                    assert response.status_code in {200, 503}  # 503: no read connection in time

            readers = [asyncio.create_task(read_until_done()) for _ in range(20)]
            await wait_for_backends(
                conn, read_pool_max_size, "state = 'active' AND query LIKE '%%sum_squares%%'"
            )
            elapsed = []
            for route in [SAVE, PREDICT] * 5:
                started = time.monotonic()
                response = await client.post(route, json=click(random_prefix()))
                elapsed.append(time.monotonic() - started)
                assert response.status_code == 200
            done.set()
            await asyncio.gather(*readers)
    assert max(elapsed) < 0.5
