"""A frozen database (every PostgreSQL process stopped, its connections open): requests end with
a 503 at their deadlines instead of hanging, and the service is back soon after the thaw."""

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from app.pool import CHECK_AFTER_IDLE_SECONDS
from app.routes import READY_TIMEOUT_SECONDS
from harness.servers import restartable_postgres, running_server
from tests.db_checks import assert_clusters_match_clicks
from tests.helpers import PREDICT, SAVE, Outcome, click, json_lines, random_prefix, save_all

STATEMENT_TIMEOUT_SECONDS = 1.0
POOL_TIMEOUT_SECONDS = 1.0
# What the service promises: a connection is cut off this long after a request gets it.
USE_SECONDS = STATEMENT_TIMEOUT_SECONDS + 0.5
SLACK_SECONDS = 0.5
FREEZE_SECONDS = 4
RECOVERY_SECONDS = 3
CLUSTERS = "/clusters"
READY = "/ready"


async def request(client: httpx.AsyncClient, route: str, body: dict[str, Any]) -> httpx.Response:
    if route == CLUSTERS:
        return await client.get(route, params={"page_uuid": body["page_uuid"]})
    if route == READY:
        return await client.get(route)
    return await client.post(route, json=body)


async def send_until(
    client: httpx.AsyncClient, pages: list[str], done: asyncio.Event, outcomes: list[Outcome]
) -> None:
    """Saves, predicts, cluster reads and readiness checks, one after the other, until `done`."""
    rng = random.Random()
    while not done.is_set():
        route = rng.choice([SAVE, PREDICT, CLUSTERS, READY])
        page, x, y = rng.choice(pages), rng.random(), rng.random()
        started = time.monotonic()
        response = await request(client, route, click(page, x, y))
        finished = time.monotonic()
        outcomes.append(
            Outcome(route, page, x, y, started, finished, response.status_code, response.json())
        )


async def test_a_frozen_database_gives_503s_at_the_deadlines_then_recovers(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    with (
        log.open("wb") as output,
        restartable_postgres(tmp_path / "postgres") as postgres,
        running_server(
            postgres.url,
            workers=2,
            output=output,
            LOG_FORMAT="json",
            STATEMENT_TIMEOUT_SECONDS=str(STATEMENT_TIMEOUT_SECONDS),
            POOL_TIMEOUT=str(POOL_TIMEOUT_SECONDS),
        ) as server,
    ):
        pages = [random_prefix() for _ in range(3)]
        outcomes: list[Outcome] = []
        done = asyncio.Event()
        async with server.client() as client:
            for page in pages:
                await save_all(client, page, [(0.5, 0.5)])
            senders = [
                asyncio.create_task(send_until(client, pages, done, outcomes)) for _ in range(16)
            ]
            async with asyncio.timeout(60):
                while len(outcomes) < 100:
                    await asyncio.sleep(0.05)
                with postgres.frozen():
                    frozen = time.monotonic()
                    await asyncio.sleep(FREEZE_SECONDS)
                    thawed = time.monotonic()
                while not any(o.started > thawed + RECOVERY_SECONDS + 1 for o in outcomes):
                    await asyncio.sleep(0.05)
            done.set()
            await asyncio.gather(*senders)

        assert {outcome.status for outcome in outcomes} <= {200, 503}
        for outcome in outcomes:
            if outcome.status == 503:
                assert outcome.body == {"detail": "database unavailable"}
            # A request may wait for a connection, then hold it: both are bounded.
            assert outcome.finished - outcome.started < POOL_TIMEOUT_SECONDS + USE_SECONDS + 0.5

        def bound(route: str) -> float:
            # Frozen, a request either holds a connection or waits for one that never comes.
            wait, use = (
                (READY_TIMEOUT_SECONDS, READY_TIMEOUT_SECONDS)
                if route == READY
                else (POOL_TIMEOUT_SECONDS, USE_SECONDS)
            )
            return max(wait, use) + SLACK_SECONDS

        started_frozen = [
            o for o in outcomes if frozen <= o.started and o.started + bound(o.route) < thawed
        ]
        assert {o.route for o in started_frozen} == {SAVE, PREDICT, CLUSTERS, READY}
        for outcome in started_frozen:
            assert outcome.status == 503, outcome
            assert outcome.finished - outcome.started < bound(outcome.route), outcome
        after = [o for o in outcomes if o.started > thawed + RECOVERY_SECONDS]
        assert after
        assert {outcome.status for outcome in after} == {200}

        saves = [o for o in outcomes if o.route == SAVE]
        acknowledged = {(o.page_uuid, o.x, o.y) for o in saves if o.status == 200}
        # A save cut off while frozen may still commit once thawed: its outcome is unknown.
        outcome_unknown = {
            (o.page_uuid, o.x, o.y) for o in saves if o.status == 503 and o.overlaps(frozen, thawed)
        }
        async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as conn:
            cursor = await conn.execute("SELECT page_uuid, x, y FROM clicks")
            stored = set(await cursor.fetchall()) - {(page, 0.5, 0.5) for page in pages}
            assert acknowledged <= stored
            assert stored - acknowledged <= outcome_unknown
            await assert_clusters_match_clicks(conn)

    # Each 503 is logged with its reason: here, connections cut off and waits that timed out.
    lines = json_lines(log)
    unavailable = [line for line in lines if line["logger"] == "clickclust"]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert len(unavailable) == sum(line["status"] == 503 for line in access)
    assert {line["reason"] for line in unavailable} == {"deadline", "pool_timeout"}


async def test_checkout_checks_on_a_frozen_database_end_with_the_wait(tmp_path: Path) -> None:
    with (
        restartable_postgres(tmp_path / "postgres") as postgres,
        running_server(postgres.url, workers=1, POOL_TIMEOUT=str(POOL_TIMEOUT_SECONDS)) as server,
    ):
        body = click(random_prefix())
        async with server.client() as client:
            assert (await client.post(PREDICT, json=body)).status_code == 200
            # Idle this long, the pool's connections are checked before a request gets one.
            await asyncio.sleep(CHECK_AFTER_IDLE_SECONDS)
            with postgres.frozen():
                started = time.monotonic()
                responses = await asyncio.gather(client.post(PREDICT, json=body), client.get(READY))
                elapsed = time.monotonic() - started
            assert [response.status_code for response in responses] == [503, 503]
            assert elapsed < max(POOL_TIMEOUT_SECONDS, READY_TIMEOUT_SECONDS) + SLACK_SECONDS
            async with asyncio.timeout(RECOVERY_SECONDS):
                while (await client.post(PREDICT, json=body)).status_code != 200:
                    await asyncio.sleep(0.05)
