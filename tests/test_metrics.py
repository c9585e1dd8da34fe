"""Prometheus metrics: requests, saves and the pool, added up over worker processes."""

import os
import signal
import time
from contextlib import suppress
from pathlib import Path

import httpx

from harness.servers import running_server
from tests.helpers import SAVE, click, metric, random_prefix, save_all


async def test_metrics_count_requests_and_saves(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    await save_all(client, random_prefix(), [(0.1, 0.1), (0.11, 0.1), (0.9, 0.9)])
    after = (await client.get("/metrics")).text
    for name, labels, increase in [
        ("clickclust_clicks_saved_total", {}, 3),
        ("clickclust_clusters_opened_total", {}, 2),
        ("clickclust_requests_total", {"route": SAVE, "status": "200"}, 3),
        ("clickclust_request_duration_seconds_count", {"route": SAVE}, 3),
    ]:
        assert metric(after, name, **labels) - metric(before, name, **labels) == increase, name
    assert metric(after, "clickclust_pool_connections") >= 1


async def test_pool_gauges_are_labelled_by_pool(client: httpx.AsyncClient, page: str) -> None:
    assert (await client.get("/clusters", params={"page_uuid": page})).status_code == 200
    text = (await client.get("/metrics")).text
    for pool in ["clicks", "reads"]:
        assert metric(text, "clickclust_pool_connections", pool=pool) >= 1, pool


def test_metrics_add_up_over_worker_processes(database_url: str) -> None:
    # A connection of its own for every request, so that both workers serve some, and a
    # scrape that answered for its own worker only would show less than the total.
    with running_server(database_url, workers=2) as server:
        for number in range(40):
            body = click(random_prefix(), number / 40, 0.5)
            assert httpx.post(server.url + SAVE, json=body).status_code == 200
        scrapes = [httpx.get(server.url + "/metrics").text for _ in range(6)]
    for text in scrapes:
        assert metric(text, "clickclust_clicks_saved_total") == 40
        assert metric(text, "clickclust_requests_total", route=SAVE, status="200") == 40


def test_a_killed_workers_pool_gauges_are_dropped(database_url: str, tmp_path: Path) -> None:
    def gauge_pids() -> set[int]:
        return {int(path.stem.rsplit("_", 1)[1]) for path in tmp_path.glob("gauge_livesum_*.db")}

    with running_server(
        database_url,
        workers=2,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        POOL_MAX_SIZE="2",
        READ_POOL_MAX_SIZE="1",
    ) as server:
        deadline = time.monotonic() + 30
        while len(gauge_pids()) < 2:  # fresh connections, until both workers have served
            assert time.monotonic() < deadline, "the requests never reached both workers"
            httpx.get(server.url + "/metrics")
        killed = min(gauge_pids())
        os.kill(killed, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(killed, 0)  # not our child: uvicorn reaps it
        while Path(f"/proc/{killed}").exists():
            assert time.monotonic() < deadline + 30, "the killed worker is still there"
        text = httpx.get(server.url + "/metrics").text
    assert killed not in gauge_pids()
    assert metric(text, "clickclust_pool_connections") <= (2 + 1) * len(gauge_pids())
