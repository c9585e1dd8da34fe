"""The heatmap, as SVG and as an HTML page: density modelled from the rollups, with a legend,
labelled clusters, axes, a time window, a background and daily trends."""

import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest

from app import db, views
from app.data_models import ClusterSummary, Coordinates
from app.pool import Connection, Pool, connection_pool
from app.settings import Settings
from tests.helpers import random_prefix, save_all


def cluster(idx: int, size: int, x: float, y: float, radius: float) -> ClusterSummary:
    return ClusterSummary(cluster_idx=idx, size=size, centroid=Coordinates(x=x, y=y), radius=radius)


async def test_heatmap_svg_draws_density_legend_clusters_and_axes(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get("/heatmap.svg", params={"page_uuid": page})
    assert response.headers["content-type"] == "image/svg+xml"
    svg = response.text
    assert svg.count('class="density-cell"') > 0
    assert svg.count('class="cluster"') == 3
    labels = re.findall(r'class="cluster-label"[^>]*>([^<]*)<', svg)
    assert labels == ["#0 · 3 · 50.0%", "#1 · 1 · 16.7%", "#2 · 2 · 33.3%"]
    assert 'class="legend"' in svg
    assert "Modelled clicks per cell" in svg
    for tick in ["0", "0.25", "0.5", "0.75", "1"]:
        assert f">{tick}</text>" in svg


async def test_colour_carries_density_only(client: httpx.AsyncClient) -> None:
    # Twelve clusters: labels tell them apart; every fill in the picture is the legend's.
    page = random_prefix()
    await save_all(client, page, [(0.1 + 0.07 * n, 0.1 + 0.07 * n) for n in range(12)])
    svg = (await client.get("/heatmap.svg", params={"page_uuid": page})).text
    labels = re.findall(r'class="cluster-label"[^>]*>#(\d+) ', svg)
    assert sorted(map(int, labels)) == list(range(12))
    legend = svg[svg.index('class="legend"') :]
    swatches = set(re.findall(r'fill="(#[0-9a-f]{6})"', legend))
    assert swatches == set(views.RAMP)
    cells = set(re.findall(r'class="density-cell"[^>]*fill="(#[0-9a-f]{6})"', svg))
    assert cells
    assert cells <= swatches
    marks = svg[svg.index('class="clusters"') : svg.index('class="legend"')]
    assert set(re.findall(r"#[0-9a-f]{3,6}\b", marks)) == {"#111"}  # one ink for all clusters


def test_density_is_each_cluster_a_gaussian_at_its_rms_radius() -> None:
    cells = views.density([cluster(0, 1000, 0.5, 0.5, 0.2)])
    assert cells.sum() == pytest.approx(1000, rel=0.01)
    centres = (np.arange(views.GRID) + 0.5) / views.GRID
    inside = np.hypot(*np.meshgrid(centres - 0.5, centres - 0.5)) < 0.2
    # A 2-D Gaussian holds 1 - 1/e of its mass within its RMS distance.
    assert cells[inside].sum() == pytest.approx(1000 * (1 - math.exp(-1)), rel=0.03)
    row, col = np.unravel_index(cells.argmax(), cells.shape)
    assert abs(centres[row] - 0.5) <= 1 / views.GRID
    assert abs(centres[col] - 0.5) <= 1 / views.GRID


def test_density_rows_run_down_the_page_and_a_point_cluster_keeps_about_a_cell() -> None:
    cells = views.density([cluster(0, 10, 0.11, 0.91, 0.0)])
    row, col = np.unravel_index(cells.argmax(), cells.shape)
    assert (int(row), int(col)) == (45, 5)  # y 0.91 is in row 45, x 0.11 in column 5
    assert cells.sum() == pytest.approx(10, rel=0.01)
    assert (cells > 0.01).sum() < 40  # a few cells, not a smear


def test_colour_classes_step_1_2_5_down_from_the_peak() -> None:
    assert views.class_bounds(340) == [200, 100, 50, 20, 10, 5, 2, 1]
    assert views.class_bounds(0.7) == pytest.approx([0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 5e-3, 2e-3])
    assert views.class_bounds(0) == []


async def test_an_empty_window_draws_no_cells_and_says_so(
    client: httpx.AsyncClient, page: str
) -> None:
    params = {"page_uuid": page, "until": "2001-01-01"}
    svg = (await client.get("/heatmap.svg", params=params)).text
    assert 'class="density-cell"' not in svg
    assert "no clicks in this window" in svg


@pytest.fixture
async def two_days_ago(conn: Connection, page: str) -> date:
    """The clicks of `page` at x = 0.2 (two of cluster 0's three) moved two days back."""
    await conn.execute(
        "UPDATE clicks SET created_at = created_at - interval '2 days'"
        " WHERE page_uuid = %s AND x = 0.2",
        (page,),
    )
    await db.rebuild_summaries(conn, page)
    return datetime.now(UTC).date() - timedelta(days=2)


@pytest.mark.usefixtures("two_days_ago")
@pytest.mark.parametrize("path", ["/heatmap.svg", "/heatmap"])
async def test_heatmap_counts_the_window_as_clusters_does(
    client: httpx.AsyncClient, page: str, path: str
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    since = (await client.get(path, params={"page_uuid": page, "since": yesterday})).text
    assert "#0 · 1 · 25.0%" in since
    assert "#2 · 2 · 50.0%" in since
    until = (await client.get(path, params={"page_uuid": page, "until": yesterday})).text
    assert "#0 · 2 · 100.0%" in until
    assert "#2 ·" not in until


async def test_heatmap_page_has_the_window_in_its_form_and_links(
    client: httpx.AsyncClient, page: str
) -> None:
    params = {"page_uuid": page, "since": "2026-01-01T22:40:00Z", "until": "2026-01-03T00:00:01"}
    html = (await client.get("/heatmap", params=params)).text
    assert "UTC days 2026-01-01 to 2026-01-03" in html
    assert '<form method="get" action="/heatmap">' in html
    assert f'<input type="hidden" name="page_uuid" value="{page}">' in html
    assert 'name="since" value="2026-01-01"' in html
    assert 'name="until" value="2026-01-04"' in html
    window = "since=2026-01-01T22%3A40%3A00%2B00%3A00&amp;until=2026-01-03T00%3A00%3A01%2B00%3A00"
    page_param = urlencode({"page_uuid": page})
    for path in ["/clusters", "/heatmap.svg", "/clicks.csv"]:
        assert f'href="{path}?{page_param}&amp;{window}"' in html


async def test_fields_a_form_leaves_blank_are_absent(client: httpx.AsyncClient, page: str) -> None:
    params = {"page_uuid": page, "since": "", "until": "", "background": ""}
    response = await client.get("/heatmap", params=params)
    assert response.status_code == 200
    assert "all time" in response.text
    assert 'class="background"' not in response.text


async def test_background_is_drawn_by_the_browser_under_the_density(
    client: httpx.AsyncClient, page: str
) -> None:
    url = 'https://example.com/shot.png?a=1&b="2"><script>'
    for path in ["/heatmap.svg", "/heatmap"]:
        response = await client.get(path, params={"page_uuid": page, "background": url})
        assert response.status_code == 200
        image = '<image class="background" href="https://example.com/shot.png?a=1&amp;b=&quot;2&quot;&gt;&lt;script&gt;"'
        assert image in response.text
        assert response.text.index(image) < response.text.index('class="density-cell"')
        assert "<script>" not in response.text


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "//example.com/a.png",
        "https:///a.png",
        "https://example.com/a b.png",
        "https://example.com/" + "a" * 2048,
    ],
)
async def test_background_other_than_http_is_422(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get("/heatmap", params={"page_uuid": "p", "background": url})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "background"]
    assert "http or https" in error["msg"] or "at most 2048" in error["msg"]


async def test_heatmap_escapes_the_page_uuid(client: httpx.AsyncClient) -> None:
    page = random_prefix() + "<script>alert(1)</script>"
    await save_all(client, page, [(0.3, 0.3)])
    for path in ["/heatmap", "/heatmap.svg"]:
        text = (await client.get(path, params={"page_uuid": page})).text
        assert "<script>" not in text
        assert "&lt;script&gt;" in text
    html = (await client.get("/heatmap", params={"page_uuid": page})).text
    assert html.count("<tr data-cluster-idx") == 1


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with connection_pool(Settings(database_url=database_url), "test", 1, 2) as pool:
        yield pool


async def test_cluster_trends_are_clicks_per_day_from_the_rollups(
    pool: Pool, page: str, two_days_ago: date
) -> None:
    today = two_days_ago + timedelta(days=2)
    trends = await db.cluster_trends(pool, page, today - timedelta(days=29), today)
    assert trends == [(0, two_days_ago, 2), (0, today, 1), (1, today, 1), (2, today, 2)]
    assert await db.cluster_trends(pool, page, two_days_ago, two_days_ago) == [(0, two_days_ago, 2)]
    assert await db.cluster_trends(pool, page, date.max, date.max) == []


async def test_heatmap_page_shows_each_clusters_trend(
    client: httpx.AsyncClient, page: str, two_days_ago: date
) -> None:
    today = two_days_ago + timedelta(days=2)
    html = (await client.get("/heatmap", params={"page_uuid": page})).text
    assert f"clicks per day, {today - timedelta(days=29)} to {today}" in html
    row = html[html.index('<tr data-cluster-idx="0">') :].split("</tr>")[0]
    assert f'title="most: 2 on {two_days_ago}"' in row
    assert 'class="trend"' in row
    params = {"page_uuid": page, "since": str(two_days_ago), "until": str(today)}
    html = (await client.get("/heatmap", params=params)).text
    assert f"clicks per day, {two_days_ago} to {today - timedelta(days=1)}" in html
    assert html.count('title="most:') == 1  # only cluster 0 has clicks on those days


def test_sparkline_is_a_bar_per_day_scaled_to_the_busiest() -> None:
    svg = views.sparkline([0, 4, 2])
    heights = [float(v) for v in re.findall(r"V([\d.]+)h40\.00", svg)]
    bottom, top = views.SPARK_HEIGHT, 1
    assert heights == pytest.approx([bottom, top, (bottom + top) / 2])
    assert views.sparkline([]) == ""


TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("since", "until", "days"),
    [
        (None, None, (date(2026, 11, 2), TODAY)),
        ("2026-11-20T23:00:00-02:00", None, (date(2026, 11, 21), TODAY)),
        (None, "2026-06-01", (date(2026, 5, 2), date(2026, 5, 31))),
        ("2026-05-01", "2026-05-01T00:00:01Z", (date(2026, 5, 1), date(2026, 5, 1))),
        ("2020-01-01", "2026-01-01", (date(2024, 12, 31), date(2025, 12, 31))),
        ("0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00+05:00", (date.min, date.min)),
        ("9999-12-31T23:00:00-05:00", "9999-12-31T23:00:00-05:00", (date.max, date.max)),
    ],
)
def test_trend_days(since: str | None, until: str | None, days: tuple[date, date]) -> None:
    def instant(value: str | None) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    assert views.trend_days(instant(since), instant(until), TODAY) == days


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+05:00", "0001-01-01", "9999-12-31T23:00:00-05:00"]
)
async def test_windows_at_the_ends_of_the_calendar_are_drawn(
    client: httpx.AsyncClient, page: str, instant: str
) -> None:
    for window in [{"since": instant}, {"until": instant}]:
        response = await client.get("/heatmap", params={"page_uuid": page, **window})
        assert response.status_code == 200


def test_labels_of_crowded_clusters_do_not_overlap() -> None:
    clusters = [cluster(idx, 100, 0.3 + 0.03 * idx, 0.5, 0.01) for idx in range(6)]
    texts = {c.cluster_idx: views.cluster_label(c, 600) for c in clusters}
    starts = views.place_labels(clusters, texts)
    boxes = np.array(
        [
            (left, bottom - views.LABEL_FONT - 2, left + len(texts[idx]) * views.CHAR_WIDTH, bottom)
            for idx, (left, baseline) in starts.items()
            for bottom in [baseline + 3]
        ]
    )
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert views.overlaps(boxes, boxes) == pytest.approx(areas)  # each shares only with itself
