"""Several real server processes, each with several workers, on one PostgreSQL."""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.db import Connection
from tests.conftest import random_prefix
from tests.db_checks import assert_clusters_match_clicks
from tests.replay import GENERATED, NEW_NAMES, replay
from tests.servers import Server, running_server

# 60 points 0.1 apart: each opens a cluster of its own.
FAR_APART = [(0.05 + 0.1 * i, 0.05 + 0.1 * j) for i in range(8) for j in range(8)][:60]


@pytest.fixture(scope="module")
def two_servers(database_url: str) -> Iterator[tuple[Server, Server]]:
    with running_server(database_url) as first, running_server(database_url) as second:
        yield first, second


@pytest.fixture
async def clients(two_servers: tuple[Server, Server]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with (
        two_servers[0].client() as first,
        two_servers[1].client() as second,
    ):
        yield [first, second]


async def test_cases_replayed_over_two_processes_pass(
    clients: list[httpx.AsyncClient], db: Connection
) -> None:
    await asyncio.gather(*(replay(clients, case, NEW_NAMES) for case in GENERATED))
    await assert_clusters_match_clicks(db)


async def test_burst_over_two_processes_gives_each_idx_once(
    clients: list[httpx.AsyncClient], db: Connection
) -> None:
    pages = [random_prefix() for _ in range(4)]
    requests = [(page, point) for page in pages for point in FAR_APART]
    responses = await asyncio.gather(
        *(
            clients[number % 2].post(
                "/save_click_and_predict_cluster",
                json={"page_uuid": page, "coordinates": {"x": x, "y": y}},
            )
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
        cursor = await db.execute("SELECT count(*) FROM clicks WHERE page_uuid = %s", (page,))
        assert await cursor.fetchone() == (len(FAR_APART),)
    await assert_clusters_match_clicks(db)
