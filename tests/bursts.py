"""Concurrent saves on several pages at once, and what they must give."""

import asyncio
from collections import defaultdict

import httpx

from app.pool import Connection
from tests.db_checks import assert_clusters_match_clicks
from tests.helpers import SAVE, click

# 60 points 0.1 apart: each opens a cluster of its own.
FAR_APART = [(0.05 + 0.1 * i, 0.05 + 0.1 * j) for i in range(8) for j in range(8)][:60]


async def assert_a_burst_gives_each_idx_once(
    clients: list[httpx.AsyncClient], conn: Connection, pages: list[str]
) -> None:
    """Every point of FAR_APART saved on every page at once, over the clients in turn: all
    answer 200, each page gets ids 0..59 once each, and one stored click per answer."""
    requests = [(page, point) for page in pages for point in FAR_APART]
    responses = await asyncio.gather(
        *(
            clients[number % len(clients)].post(SAVE, json=click(page, x, y))
            for number, (page, (x, y)) in enumerate(requests)
        )
    )
    assert [response.status_code for response in responses] == [200] * len(requests)
    ids = defaultdict(list)
    for (page, _), response in zip(requests, responses, strict=True):
        assert response.json()["is_new"] is True
        ids[page].append(response.json()["cluster_idx"])
    for page in pages:
        assert sorted(ids[page]) == list(range(len(FAR_APART)))
        cursor = await conn.execute("SELECT count(*) FROM clicks WHERE page_uuid = %s", (page,))
        assert await cursor.fetchone() == (len(FAR_APART),)
    await assert_clusters_match_clicks(conn)
