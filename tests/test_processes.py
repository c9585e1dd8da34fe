"""Several real server processes, each with several workers, on one PostgreSQL."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.pool import Connection
from harness.servers import Server, running_server
from tests.bursts import assert_a_burst_gives_each_idx_once
from tests.db_checks import assert_clusters_match_clicks
from tests.helpers import random_prefix
from tests.replay import GENERATED, NEW_NAMES, replay


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
    clients: list[httpx.AsyncClient], conn: Connection
) -> None:
    await asyncio.gather(*(replay(clients, case, NEW_NAMES) for case in GENERATED))
    await assert_clusters_match_clicks(conn)


async def test_burst_over_two_processes_gives_each_idx_once(
    clients: list[httpx.AsyncClient], conn: Connection
) -> None:
    await assert_a_burst_gives_each_idx_once(clients, conn, [random_prefix() for _ in range(4)])
