"""What the service says about itself: one log line for each 503, with its reason, the count by
reason in /metrics, and the access log as JSON lines when LOG_FORMAT is json."""

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest

from app.pool import Connection
from app.settings import Settings
from harness.servers import running_server
from tests.db_checks import wait_for_lock_waiters
from tests.helpers import PREDICT, SAVE, app_client, click, json_lines, metric, random_prefix

LOCK_PAGE = "SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE"


async def test_each_503_is_logged_once_and_counted_by_reason(
    conn: Connection, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=database_url,
        pool_min_size=1,
        pool_max_size=1,
        pool_timeout=0.3,
        pool_max_waiting=1,
        statement_timeout_seconds=1,
    )
    body = click(random_prefix())
    async with (
        app_client(settings) as client,
        await psycopg.AsyncConnection.connect(database_url) as locker,
    ):
        assert (await client.post(SAVE, json=body)).status_code == 200
        before = (await client.get("/metrics")).text
        caplog.clear()
        await locker.execute(LOCK_PAGE, (body["page_uuid"],))
        # This save holds the only connection until its statement times out on the page lock;
        # of the predicts, one waits for the connection until the pool's timeout, and the
        # others find the queue full.
        blocked = asyncio.create_task(client.post(SAVE, json=body))
        await wait_for_lock_waiters(conn, 1)
        predicts = await asyncio.gather(*(client.post(PREDICT, json=body) for _ in range(5)))
        responses = [*predicts, await blocked]
        await locker.rollback()
        after = (await client.get("/metrics")).text

    assert [response.status_code for response in responses] == [503] * 6
    lines = [vars(record) for record in caplog.records if record.name == "clickclust"]
    expected = {"queue_full": 4, "pool_timeout": 1, "statement_timeout": 1}
    assert Counter(line["reason"] for line in lines) == expected
    least_ms = {"queue_full": 0, "pool_timeout": 300, "statement_timeout": 1000}
    for line in lines:
        assert line["method"] == "POST"
        assert line["route"] == (SAVE if line["reason"] == "statement_timeout" else PREDICT)
        assert line["sqlstate"] == ("57014" if line["reason"] == "statement_timeout" else None)
        assert line["duration_ms"] >= least_ms[line["reason"]]
    for reason, count in expected.items():
        name = "clickclust_unavailable_total"
        assert metric(after, name, reason=reason) - metric(before, name, reason=reason) == count


def test_json_log_format_gives_one_json_object_a_line(database_url: str, tmp_path: Path) -> None:
    body = click(random_prefix())
    log = tmp_path / "server.log"
    with (
        log.open("wb") as output,
        running_server(
            database_url,
            workers=1,
            output=output,
            LOG_FORMAT="json",
            STATEMENT_TIMEOUT_SECONDS="0.2",
        ) as server,
        psycopg.connect(database_url) as locker,
    ):
        assert httpx.post(server.url + SAVE, json=body).status_code == 200
        locker.execute(LOCK_PAGE, (body["page_uuid"],))
        assert httpx.post(server.url + SAVE, json=body).status_code == 503
        locker.rollback()

    lines = json_lines(log)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert [(line["method"], line["path"], line["status"]) for line in access][-2:] == [
        ("POST", SAVE, 200),
        ("POST", SAVE, 503),
    ]
    [unavailable] = [line for line in lines if line["logger"] == "clickclust"]
    assert unavailable["route"] == SAVE
    assert unavailable["reason"] == "statement_timeout"
    assert unavailable["sqlstate"] == "57014"
    assert unavailable["duration_ms"] >= 200
