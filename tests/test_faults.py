"""Database outages, pool exhaustion and SIGTERM, against real processes."""

import asyncio
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.pool import CHECK_AFTER_IDLE_SECONDS, Connection
from app.schema import migrate
from app.settings import Settings
from harness.servers import restartable_postgres, running_server
from tests.db_checks import assert_clusters_match_clicks, wait_for_lock_waiters
from tests.helpers import SAVE, Outcome, app_client, click, random_prefix

OUTAGE_SECONDS = 4
RECOVERY_SECONDS = 5


async def send_until(
    client: httpx.AsyncClient, pages: list[str], done: asyncio.Event, outcomes: list[Outcome]
) -> None:
    """Saves and predicts at random points, one after the other, until `done`."""
    rng = random.Random()
    while not done.is_set():
        route = rng.choice(["/save_click_and_predict_cluster", "/predict_cluster"])
        page, x, y = rng.choice(pages), rng.random(), rng.random()
        started = time.monotonic()
        response = await client.post(route, json=click(page, x, y))
        body = response.json() if response.headers["content-type"] == "application/json" else None
        outcomes.append(
            Outcome(route, page, x, y, started, time.monotonic(), response.status_code, body)
        )


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.05)


async def test_database_outage_gives_fast_503s_then_recovers_and_loses_nothing(
    tmp_path: Path,
) -> None:
    with (
        restartable_postgres(tmp_path / "postgres") as postgres,
        running_server(postgres.url, workers=2) as server,
    ):
        migrate(postgres.url)
        pages = [random_prefix() for _ in range(3)]
        outcomes: list[Outcome] = []
        done = asyncio.Event()
        async with server.client() as client:
            senders = [
                asyncio.create_task(send_until(client, pages, done, outcomes)) for _ in range(16)
            ]
            await until(lambda: len(outcomes) >= 100)
            stopping = time.monotonic()
            await asyncio.to_thread(postgres.stop)
            stopped = time.monotonic()
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself
            restarting = time.monotonic()
            await asyncio.to_thread(postgres.start)
            back = time.monotonic()
            await until(lambda: any(o.started > back + RECOVERY_SECONDS + 1 for o in outcomes))
            done.set()
            await asyncio.gather(*senders)

        assert {outcome.status for outcome in outcomes} <= {200, 503}
        for outcome in outcomes:
            if outcome.status == 503:
                assert isinstance(outcome.body, dict)
                assert isinstance(outcome.body["detail"], str)
        started_during = [o for o in outcomes if stopped <= o.started < restarting]
        assert max(outcome.finished - outcome.started for outcome in started_during) < 2
        during = [outcome for outcome in started_during if outcome.finished <= restarting]
        assert len(during) >= 16
        assert {outcome.status for outcome in during} == {503}
        after = [outcome for outcome in outcomes if outcome.started > back + RECOVERY_SECONDS]
        assert after
        assert {outcome.status for outcome in after} == {200}

        saves = [o for o in outcomes if o.route == "/save_click_and_predict_cluster"]
        acknowledged = {(o.page_uuid, o.x, o.y) for o in saves if o.status == 200}
        # A save whose COMMIT was executing when the server went down may have committed
        # although its answer was lost: its outcome is unknown to the service as to any client.
        # Only those may be stored without a 200; everything answered 200 must be.
        outcome_unknown = {
            (o.page_uuid, o.x, o.y) for o in saves if o.started < stopping <= o.finished
        }
        async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as conn:
            cursor = await conn.execute("SELECT page_uuid, x, y FROM clicks")
            stored = set(await cursor.fetchall())
            assert acknowledged <= stored
            assert stored - acknowledged <= outcome_unknown
            await assert_clusters_match_clicks(conn)


async def save_with_retries(
    client: httpx.AsyncClient, page: str, done: asyncio.Event, answers: dict[str, object]
) -> None:
    """Saves at random points, each with its own key, each retried on a 503 or a dropped
    connection until it gets a 200, until `done`."""
    rng = random.Random()
    while not done.is_set():
        key = secrets.token_hex(8)
        body = click(page, rng.random(), rng.random())
        while True:
            try:
                response = await client.post(SAVE, json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                break
            assert response.status_code == 503
        answers[key] = (body["coordinates"]["x"], body["coordinates"]["y"], response.json())


@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
async def test_saves_retried_with_keys_through_an_outage_are_stored_exactly_once(
    tmp_path: Path, shutdown: str
) -> None:
    with (
        restartable_postgres(tmp_path / "postgres") as postgres,
        running_server(postgres.url, workers=2) as server,
    ):
        migrate(postgres.url)
        page = random_prefix()
        answers: dict[str, object] = {}
        done = asyncio.Event()
        async with server.client() as client:
            senders = [
                asyncio.create_task(save_with_retries(client, page, done, answers))
                for _ in range(16)
            ]
            await until(lambda: len(answers) >= 100)
            await asyncio.to_thread(postgres.stop, shutdown)
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(postgres.start)
            during = len(answers)
            await until(lambda: len(answers) >= during + 100)
            done.set()
            await asyncio.gather(*senders)

        async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT key, clicks.x, clicks.y, clicks.cluster_idx, keys.is_new"
                " FROM clicks FULL JOIN idempotency_keys AS keys"
                " ON keys.page_uuid = clicks.page_uuid AND keys.x = clicks.x AND keys.y = clicks.y"
            )
            stored = {
                key: (x, y, {"cluster_idx": idx, "is_new": new})
                for key, x, y, idx, new in await cursor.fetchall()
            }
            cursor = await conn.execute("SELECT count(*) FROM clicks")
            # Each click once (none doubled), each with the key it was sent with (none lost),
            # and each answer, retried or not, is what was stored.
            assert await cursor.fetchone() == (len(answers),)
            assert stored == answers
            await assert_clusters_match_clicks(conn)


async def in_a_burst(client: httpx.AsyncClient, body: dict[str, Any]) -> list[int]:
    requests = (client.post("/predict_cluster", json=body) for _ in range(40))
    return [response.status_code for response in await asyncio.gather(*requests)]


async def one_by_one(client: httpx.AsyncClient, body: dict[str, Any]) -> list[int]:
    """As a readiness probe or a quiet client sends them: each used to meet the next broken
    connection after the pool's pause, and run out of time."""
    statuses = [(await client.post("/predict_cluster", json=body)).status_code for _ in range(6)]
    return statuses + [(await client.get("/ready")).status_code for _ in range(3)]


@pytest.mark.parametrize("send", [in_a_burst, one_by_one])
async def test_a_database_restart_while_idle_costs_no_request_an_error(
    tmp_path: Path, send: Callable[[httpx.AsyncClient, dict[str, Any]], Awaitable[list[int]]]
) -> None:
    with (
        restartable_postgres(tmp_path / "postgres") as postgres,
        running_server(postgres.url, workers=1) as server,
    ):
        migrate(postgres.url)
        body = click(random_prefix())
        async with server.client() as client:
            assert set(await in_a_burst(client, body)) == {200}  # the pool grows
            idle_since = time.monotonic()
            postgres.stop()
            postgres.start()
            # Connections are checked at checkout once idle this long (a database restart
            # takes about as long); a busier service simply has no stale ones to check.
            await asyncio.sleep(max(0, idle_since + CHECK_AFTER_IDLE_SECONDS - time.monotonic()))
            assert set(await send(client, body)) == {200}


async def test_requests_beyond_the_pool_get_a_bounded_wait_then_503(
    conn: Connection, database_url: str
) -> None:
    pool_timeout = 0.5
    settings = Settings(
        database_url=database_url,
        pool_min_size=1,
        pool_max_size=1,
        pool_timeout=pool_timeout,
        pool_max_waiting=4,
    )
    page = random_prefix()
    body = click(page)
    async with (
        app_client(settings) as client,
        await psycopg.AsyncConnection.connect(database_url) as locker,
    ):
        assert (await client.post("/save_click_and_predict_cluster", json=body)).status_code == 200
        await locker.execute("SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE", (page,))
        # This save takes the pool's only connection and waits for the page lock.
        blocked = asyncio.create_task(client.post("/save_click_and_predict_cluster", json=body))
        await wait_for_lock_waiters(conn, 1)

        async def timed_predict() -> tuple[int, float]:
            started = time.monotonic()
            response = await client.post("/predict_cluster", json=body)
            assert response.json() == {"detail": "database unavailable"}
            return response.status_code, time.monotonic() - started

        results = await asyncio.gather(*(timed_predict() for _ in range(20)))
        assert {status for status, _ in results} == {503}
        assert max(elapsed for _, elapsed in results) < pool_timeout + 0.5
        # Past the 4 that may wait, requests are refused at once: the queue stays bounded.
        assert sum(elapsed < pool_timeout / 2 for _, elapsed in results) >= 16

        await locker.commit()
        assert (await blocked).json() == {"cluster_idx": 0, "is_new": False}
        response = await client.post("/predict_cluster", json=body)
        assert response.json() == {"cluster_idx": 0}


async def test_sigterm_finishes_in_flight_requests_and_refuses_new_ones(
    conn: Connection, database_url: str
) -> None:
    page = random_prefix()
    body = click(page)
    in_flight = 8
    with running_server(database_url, workers=2) as server:
        async with (
            server.client() as client,
            await psycopg.AsyncConnection.connect(database_url) as locker,
        ):
            response = await client.post("/save_click_and_predict_cluster", json=body)
            assert response.status_code == 200
            await locker.execute("SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE", (page,))
            saves = [
                asyncio.create_task(client.post("/save_click_and_predict_cluster", json=body))
                for _ in range(in_flight)
            ]
            await wait_for_lock_waiters(conn, in_flight)

            exit_code = asyncio.create_task(asyncio.to_thread(server.terminate))

            async def refused() -> bool:
                try:
                    async with httpx.AsyncClient(base_url=server.url, timeout=2) as fresh:
                        await fresh.get("/health")
                except httpx.TransportError:  # refused, or accepted by the kernel then closed
                    return True
                return False

            async with asyncio.timeout(10):
                while not await refused():
                    await asyncio.sleep(0.05)
            await locker.commit()
            responses = await asyncio.gather(*saves)
            assert await exit_code == 0

    assert [response.json() for response in responses] == [
        {"cluster_idx": 0, "is_new": False}
    ] * in_flight
    cursor = await conn.execute("SELECT count(*) FROM clicks WHERE page_uuid = %s", (page,))
    assert await cursor.fetchone() == (1 + in_flight,)
