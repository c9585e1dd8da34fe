"""The heatmap, as SVG and as an HTML page, and rendered in headless Chromium."""

import subprocess
from pathlib import Path

import httpx

from app import db
from app.pool import Connection
from harness.servers import running_server
from tests.helpers import (
    CLICKS,
    NEEDS_CHROMIUM,
    SAVE,
    click,
    headless_chromium,
    random_prefix,
    save_all,
)


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
    await db.rebuild_summaries(conn, page)
    svg = (await client.get("/heatmap.svg", params={"page_uuid": page})).text
    assert 2_000 <= svg.count(' r="2" ') <= 5_000
    assert 'class="centroid"' in svg
    assert "0 (12001)" in svg


async def test_heatmap_sample_is_fair_to_each_page_whatever_others_do(
    client: httpx.AsyncClient, conn: Connection
) -> None:
    # Saves alternate between two pages, 5,001 each: a sample of every second click by a
    # number shared by all pages would draw none of one page's clicks.
    pages = [random_prefix(), random_prefix()]
    saves = [(page, 0.5, 0.5) for _ in range(5_001) for page in pages]
    async with conn.cursor() as cursor:
        await cursor.executemany("SELECT FROM save_click(%s, %s, %s, 0.04)", saves)
    for page in pages:
        svg = (await client.get("/heatmap.svg", params={"page_uuid": page})).text
        assert "0 (5001)" in svg
        assert 2_400 <= svg.count(' r="2" ') <= 2_600


async def test_heatmap_page_escapes_the_page_uuid(client: httpx.AsyncClient) -> None:
    page = random_prefix() + "<script>alert(1)</script>"
    await save_all(client, page, [(0.3, 0.3)])
    html = (await client.get("/heatmap", params={"page_uuid": page})).text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert html.count("<tr><td") == 1


@NEEDS_CHROMIUM
def test_heatmap_page_renders_in_chromium(database_url: str, tmp_path: Path) -> None:
    page = random_prefix() + "/rendered"
    with (
        running_server(database_url, workers=1) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        for x, y in CLICKS:
            http.post(SAVE, json=click(page, x, y))
        url = str(httpx.URL(server.url + "/heatmap", params={"page_uuid": page}))
        browser = [*headless_chromium(tmp_path / "profile"), "--window-size=1100,700"]
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
