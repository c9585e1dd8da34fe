"""The index of pages and the heatmap page as an analyst sees them, and the API's /docs and
/redoc: rendered by headless Chromium (Debian's, driven by Playwright) from a real server
process."""

import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from app import db
from app.pool import Connection
from harness.servers import Server, running_server, static_files
from tests.helpers import CLICKS, random_prefix, save_all

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here (Debian package chromium; .ci/run installs it)"
)
LABELS = ["#0 · 3 · 50.0%", "#1 · 1 · 16.7%", "#2 · 2 · 33.3%"]


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    with running_server(database_url, workers=1) as server:
        yield server


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        await browser.close()


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[Page]:
    page = await browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await page.close()
    assert errors == []


async def labels(tab: Page) -> list[str]:
    return await tab.locator(".cluster-label").all_text_contents()


async def test_the_index_finds_a_page_and_links_to_its_heatmap(server: Server, tab: Page) -> None:
    prefix = random_prefix() + "/"
    async with server.client() as client:
        await save_all(client, prefix + "home", CLICKS)
        await save_all(client, prefix + "pricing", [(0.5, 0.5)])
    await tab.goto(f"{server.url}/pages.html?limit=1")
    await tab.fill("input[name=prefix]", prefix)
    await tab.select_option("select[name=sort]", "clicks")
    await tab.click("text=Show")
    await tab.wait_for_url("**prefix=**")
    assert await tab.locator("tbody tr").count() == 1
    cells = await tab.locator("tbody td").all_text_contents()
    assert cells[:3] == [prefix + "home", "6", "3"]
    await tab.click("a[rel=next]")
    await tab.wait_for_url("**cursor=**")
    assert await tab.locator("tbody tr td a").all_text_contents() == [prefix + "pricing"]
    await tab.go_back()
    await tab.click(f"text={prefix}home")
    await tab.wait_for_url("**/heatmap?**")
    assert await tab.locator("h1").text_content() == f"Clicks on {prefix}home"
    await expect_heatmap_drawn(tab)


async def expect_heatmap_drawn(tab: Page) -> None:
    legend = tab.locator(".legend")
    assert await legend.is_visible()
    assert "Modelled clicks per cell" in (await legend.text_content() or "")
    assert await legend.locator("rect").count() == 8
    cells = tab.locator(".density-cell")
    assert await cells.count() > 10
    box = await cells.first.bounding_box()
    assert box is not None
    assert box["width"] > 5
    assert await labels(tab) == LABELS
    for label in LABELS:
        assert await tab.locator(f"text={label}").is_visible()
    for axis in [".x-axis", ".y-axis"]:
        ticks = await tab.locator(f"{axis} text").all_text_contents()
        assert ticks[:5] == ["0", "0.25", "0.5", "0.75", "1"]
    assert await tab.locator("tbody tr svg.trend").count() == 3


async def test_the_heatmap_form_applies_a_window_and_a_background(
    server: Server, tab: Page, conn: Connection, tmp_path: Path
) -> None:
    page = random_prefix() + "/form"
    async with server.client() as client:
        await save_all(client, page, CLICKS)
    await conn.execute(
        "UPDATE clicks SET created_at = now() - interval '10 days'"
        " WHERE page_uuid = %s AND cluster_idx = 2",
        (page,),
    )
    await db.rebuild_summaries(conn, page)  # cluster 2's rollups, as if 10 days ago
    (tmp_path / "page.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        '<rect width="100" height="40" fill="#444"/></svg>'
    )
    await tab.goto(f"{server.url}/heatmap?{urlencode({'page_uuid': page})}")
    await expect_heatmap_drawn(tab)
    today = datetime.now(UTC).date()
    with static_files(tmp_path) as files:
        await tab.fill("input[name=since]", str(today - timedelta(days=2)))
        await tab.fill("input[name=until]", str(today + timedelta(days=1)))
        await tab.fill("input[name=background]", f"{files}/page.svg")
        async with tab.expect_response(f"{files}/page.svg") as background:
            await tab.click("text=Show")
        assert (await background.value).status == 200
    await tab.wait_for_url("**since=**")
    assert await labels(tab) == ["#0 · 3 · 75.0%", "#1 · 1 · 25.0%"]
    assert await tab.locator("tbody tr").count() == 2
    assert await tab.input_value("input[name=since]") == str(today - timedelta(days=2))
    assert await tab.input_value("input[name=page_uuid]") == page
    image = tab.locator("image.background")
    assert await image.get_attribute("href") == f"{files}/page.svg"
    picture = await image.bounding_box()
    assert picture is not None
    assert picture["width"] == pytest.approx(600)
    for link, path in [("JSON", "/clusters"), ("SVG", "/heatmap.svg"), ("CSV", "/clicks.csv")]:
        href = await tab.locator(f"a:has-text('{link}')").get_attribute("href") or ""
        assert href.startswith(f"{path}?page_uuid=")
        assert f"since={today - timedelta(days=2)}" in href


# ReDoc's bundle always asks for the logo of its "API docs by Redocly" link, and leaves the logo
# out when it cannot have it.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


async def test_the_docs_render_with_nothing_from_another_origin(server: Server, tab: Page) -> None:
    elsewhere: list[str] = []

    async def only_the_app(route: Route) -> None:
        if route.request.url.startswith(server.url + "/"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await tab.route("**/*", only_the_app)
    for docs, asked_elsewhere in [("/docs", []), ("/redoc", [REDOCLY_LOGO])]:
        elsewhere.clear()
        await tab.goto(server.url + docs)
        # The paths come from /openapi.json: on the page only once the UI has run.
        await tab.get_by_text("/clicks.csv").first.wait_for()
        await tab.wait_for_load_state("networkidle")
        assert elsewhere == asked_elsewhere, docs
