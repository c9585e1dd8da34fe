"""The read API, the heatmap, metrics and the rebuild command, through real PostgreSQL."""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.pool import Connection
from tests.db_checks import assert_clusters_match_clicks
from tests.helpers import SAVE, click, random_prefix
from tests.servers import rebuild, running_server

# Three clusters: 0 gets three clicks, 1 gets one, 2 gets two.
CLICKS = [(0.2, 0.2), (0.22, 0.2), (0.7, 0.7), (0.2, 0.23), (0.5, 0.9), (0.51, 0.9)]


async def save_all(client: httpx.AsyncClient, page: str, clicks: list[tuple[float, float]]) -> None:
    for x, y in clicks:
        response = await client.post(SAVE, json=click(page, x, y))
        assert response.status_code == 200


@pytest.fixture
async def page(client: httpx.AsyncClient) -> str:
    page = random_prefix() + "/views"
    await save_all(client, page, CLICKS)
    return page


async def test_clusters_of_a_page(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get("/clusters", params={"page_uuid": page})
    clusters = response.json()
    assert [(c["cluster_idx"], c["size"]) for c in clusters] == [(0, 3), (1, 1), (2, 2)]
    assert clusters[0]["centroid"] == pytest.approx({"x": 0.62 / 3, "y": 0.63 / 3})
    assert clusters[0]["radius"] == pytest.approx(
        ((0.2 - 0.62 / 3) ** 2 + (0.23 - 0.21) ** 2) ** 0.5
    )
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
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = await client.get("/clusters", params={"page_uuid": page, "since": since})
    assert [(c["cluster_idx"], c["size"]) for c in response.json()] == [(0, 1), (1, 1), (2, 2)]
    until = since
    response = await client.get("/clusters", params={"page_uuid": page, "until": until})
    assert [(c["cluster_idx"], c["size"]) for c in response.json()] == [(0, 2)]


async def test_clusters_of_an_unknown_page_is_empty(client: httpx.AsyncClient) -> None:
    assert (await client.get("/clusters", params={"page_uuid": random_prefix()})).json() == []


@pytest.mark.parametrize("since", ["yesterday", "1764460800", "1.5", ""])
async def test_bad_time_window_is_422(client: httpx.AsyncClient, since: str) -> None:
    response = await client.get("/clusters", params={"page_uuid": "p", "since": since})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]


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


async def test_best_cluster_of_a_page_without_clicks_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/get_best_cluster", params={"page_uuid": random_prefix()})
    assert response.status_code == 404


@pytest.mark.parametrize("limit", [0, 100_001, "many"])
async def test_best_cluster_limit_is_bounded(client: httpx.AsyncClient, limit: int | str) -> None:
    response = await client.get("/get_best_cluster", params={"page_uuid": "p", "limit": limit})
    assert response.status_code == 422


async def test_heatmap_svg_draws_every_cluster_and_click(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get("/heatmap.svg", params={"page_uuid": page})
    assert response.headers["content-type"] == "image/svg+xml"
    svg = response.text
    assert svg.count('class="centroid"') == 3
    assert svg.count(' r="2" ') == len(CLICKS)
    assert "0 (3)" in svg
    assert "1 (1)" in svg
    assert "2 (2)" in svg


async def test_heatmap_of_a_big_page_is_sampled(
    client: httpx.AsyncClient, conn: Connection
) -> None:
    page = random_prefix()
    await save_all(client, page, [(0.5, 0.5)])
    clicks = 12_000
    copy_clicks = "COPY clicks (page_uuid, seq, x, y, cluster_idx) FROM STDIN"
    async with conn.cursor().copy(copy_clicks) as copy:
        for number in range(clicks):
            await copy.write_row((page, number + 2, 0.5 + (number % 7) / 1000, 0.5, 0))
    await conn.execute(
        "UPDATE clusters SET size = size + %s, sum_x = sum_x + %s, sum_y = sum_y + %s"
        " WHERE page_uuid = %s",
        (clicks, sum(0.5 + (n % 7) / 1000 for n in range(clicks)), 0.5 * clicks, page),
    )
    svg = (await client.get("/heatmap.svg", params={"page_uuid": page})).text
    assert 2_000 <= svg.count(' r="2" ') <= 5_000
    assert 'class="centroid"' in svg
    assert "0 (12001)" in svg


async def test_heatmap_page_escapes_the_page_uuid(client: httpx.AsyncClient) -> None:
    page = random_prefix() + "<script>alert(1)</script>"
    await save_all(client, page, [(0.3, 0.3)])
    html = (await client.get("/heatmap", params={"page_uuid": page})).text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert html.count("<tr><td") == 1


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


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


async def test_rebuild_repairs_corrupted_summaries(
    conn: Connection, database_url: str, page: str
) -> None:
    await conn.execute(
        "UPDATE clusters SET size = size + 5, sum_x = 0 WHERE page_uuid = %s AND cluster_idx = 0",
        (page,),
    )
    result = rebuild(database_url, page)
    assert result.returncode == 1
    assert f"{page}: stored cluster summaries differed" in result.stdout
    await assert_clusters_match_clicks(conn)
    assert rebuild(database_url, page, "--replay").returncode == 0


async def test_rebuild_replay_finds_wrong_cluster_ids(
    conn: Connection, database_url: str, page: str
) -> None:
    await conn.execute(
        "UPDATE clicks SET cluster_idx = 1 WHERE page_uuid = %s AND x = 0.22", (page,)
    )
    result = rebuild(database_url, "--replay", page)
    assert result.returncode == 1
    assert f"{page}: replaying its clicks does not reproduce" in result.stdout


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="no Chromium here (Debian package chromium)")
def test_heatmap_page_renders_in_chromium(database_url: str, tmp_path: Path) -> None:
    page = random_prefix() + "/rendered"
    with (
        running_server(database_url, workers=1) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        for x, y in CLICKS:
            http.post(SAVE, json=click(page, x, y))
        url = str(httpx.URL(server.url + "/heatmap", params={"page_uuid": page}))
        browser = [
            str(chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,700",
        ]  # fmt: skip
        dom = subprocess.run(
            [*browser, "--dump-dom", url], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        screenshot = tmp_path / "heatmap.png"
        subprocess.run(
            [*browser, f"--screenshot={screenshot}", url],
            capture_output=True,
            check=True,
            timeout=60,
        )
    assert dom.count('class="centroid"') == 3
    assert dom.count("<tr><td") == 3
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 10_000
