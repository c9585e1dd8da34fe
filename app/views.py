"""What analysts see: a page's heatmap, as SVG and as an HTML page, and the index of pages.
Pure rendering, no I/O."""

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from html import escape
from urllib.parse import urlencode

import numpy as np
import numpy.typing as npt

from app.data_models import ClusterSummary, HeatmapRequest, PagesRequest, PagesResponse

PLOT = 600  # pixels per unit of the page's square
GRID = 50  # density cells per side of the square
CELL = PLOT // GRID
CELL_SHARE = f"{100 / GRID:g}%"
LEFT, TOP = 46, 34  # room for the axes
LEGEND_X = LEFT + PLOT + 24
WIDTH, HEIGHT = LEGEND_X + 190, TOP + PLOT + 16
TICKS = (0, 0.25, 0.5, 0.75, 1)
# Sequential, light to dark (ColorBrewer YlOrRd): colour says how dense, never which cluster.
RAMP = ("#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")
CELL_OPACITY = 0.7
LABEL_FONT = 12
CHAR_WIDTH = 6.8  # a rough average at LABEL_FONT, to keep labels from overlapping
# Without a window, the trend shows the last 30 days; a window's trend, its last 366 at most.
TREND_DAYS, MAX_TREND_DAYS = 30, 366
SPARK_WIDTH, SPARK_HEIGHT = 120, 22
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "a{color:#0b57d0}nav{margin-bottom:.5em}h1{font-size:1.4em;margin:.2em 0}"
    "form{display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:end;margin:1em 0}"
    "label{display:flex;flex-direction:column;font-size:.85em;color:#555}"
    "input,select,button{font:inherit;font-size:1rem;padding:2px 4px}"
    "input[type=url]{width:22em}main{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}"
    "table{border-collapse:collapse}th{font-weight:600;font-size:.9em;color:#555}"
    "td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}"
    "td:first-child,th:first-child{text-align:left}.note{color:#555;max-width:60em}"
)


# The time window, in whole UTC days as the rollups count it.


def add_days(day: date, days: int) -> date:
    """`day` moved by `days`, stopping at the ends of the calendar."""
    return date.fromordinal(min(max(day.toordinal() + days, 1), date.max.toordinal()))


def utc_day(instant: datetime) -> date:
    """The UTC day of `instant`; an instant past either end of the calendar, the end's day."""
    try:
        return instant.astimezone(UTC).date()
    except OverflowError:
        return date.min if instant.year == 1 else date.max


def last_day(until: datetime) -> date:
    """The UTC day of the last instant before `until`."""
    try:
        return utc_day(until - timedelta(microseconds=1))
    except OverflowError:
        return date.min


def trend_days(since: datetime | None, until: datetime | None, today: date) -> tuple[date, date]:
    """The first and last UTC day of the trend: the window's days, the last MAX_TREND_DAYS of
    them at most; without a start, the TREND_DAYS up to its end (or today)."""
    last = last_day(until) if until else today
    first = utc_day(since) if since else add_days(last, 1 - TREND_DAYS)
    return max(first, add_days(last, 1 - MAX_TREND_DAYS)), last


def window_text(since: datetime | None, until: datetime | None) -> str:
    if since and until:
        return f"UTC days {utc_day(since)} to {last_day(until)}"
    if since:
        return f"UTC days from {utc_day(since)}"
    if until:
        return f"UTC days through {last_day(until)}"
    return "all time"


# The density model.


def density(clusters: Sequence[ClusterSummary]) -> npt.NDArray[np.float64]:
    """Modelled clicks in each cell of a GRID x GRID grid over the unit square (rows along y):
    each cluster a 2-D Gaussian around its centroid, with its RMS radius (so sigma is the
    radius over sqrt 2 on each axis, at least a cell), weighted by its size."""
    centres = (np.arange(GRID) + 0.5) / GRID
    size = np.array([c.size for c in clusters], dtype=np.float64)
    sigma = np.maximum(np.array([c.radius for c in clusters]) / math.sqrt(2), 1 / GRID)

    def share_per_cell(mean: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # Each cluster's share of its clicks in each cell's span along one axis.
        z = (centres[None, :] - mean[:, None]) / sigma[:, None]
        return np.exp(-0.5 * z * z) / (sigma[:, None] * math.sqrt(2 * math.pi) * GRID)

    along_x = share_per_cell(np.array([c.centroid.x for c in clusters]))
    along_y = share_per_cell(np.array([c.centroid.y for c in clusters]))
    return (along_y.T * size) @ along_x


def class_bounds(peak: float) -> list[float]:
    """Each colour's lowest density, darkest first: steps of 1, 2, 5 down from the largest such
    number at most `peak`."""
    if peak <= 0:
        return []
    top = math.floor(math.log10(peak))
    steps = [m * 10.0**e for e in range(top, top - 5, -1) for m in (5, 2, 1)]
    return [bound for bound in steps if bound <= peak][: len(RAMP)]


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


# SVG


def density_cells(cells: npt.NDArray[np.float64], bounds: list[float]) -> str:
    # Class 0 is the lowest bound; cells under it are left clear.
    classes = np.searchsorted(bounds[::-1], cells, side="right") - 1
    return "".join(
        f'<rect class="density-cell" x="{col * CELL}" y="{row * CELL}" width="{CELL}" '
        f'height="{CELL}" fill="{RAMP[k]}"/>'
        for (row, col), k in np.ndenumerate(classes)
        if k >= 0
    )


def class_text(bounds: list[float], i: int) -> str:
    low = number(bounds[i])
    return f"≥ {low}" if i == 0 else f"{low} &#8211; {number(bounds[i - 1])}"


NO_CLICKS = '<text y="53">no clicks in this window</text>'


def legend(bounds: list[float]) -> str:
    rows = "".join(
        f'<rect x="0" y="{40 + 20 * i}" width="18" height="16" fill="{RAMP[len(RAMP) - 1 - i]}" '
        f'fill-opacity="{CELL_OPACITY}" stroke="#999" stroke-width=".5"/>'
        f'<text x="26" y="{53 + 20 * i}">{class_text(bounds, i)}</text>'
        for i in range(len(bounds))
    )
    below = 52 + 20 * max(len(bounds), 1)
    return (
        f'<g class="legend" transform="translate({LEGEND_X},{TOP})" font-size="12">'
        '<text y="4" font-weight="600">Modelled clicks per cell</text>'
        f'<text y="20" fill="#555">a cell: {CELL_SHARE} &#215; {CELL_SHARE} of the page</text>'
        f"{rows or NO_CLICKS}"
        f'<circle cx="9" cy="{below + 8}" r="8" fill="none" stroke="#111" stroke-width="1.5"/>'
        f'<text x="26" y="{below + 12}">cluster, at its RMS radius</text>'
        f'<text y="{below + 36}" font-weight="600">#idx · clicks · share</text>'
        f'<text y="{below + 52}" fill="#555">of the clicks in the window</text></g>'
    )


def axes() -> str:
    lines = "".join(
        f'<path d="M{t * PLOT:g},0V{PLOT}M0,{t * PLOT:g}H{PLOT}"/>' for t in TICKS[1:-1]
    )
    x_ticks = "".join(
        f'<path d="M{t * PLOT:g},0v-5"/><text x="{t * PLOT:g}" y="-9" text-anchor="middle">'
        f"{t:g}</text>"
        for t in TICKS
    )
    y_ticks = "".join(
        f'<path d="M0,{t * PLOT:g}h-5"/><text x="-8" y="{t * PLOT + 4:g}" text-anchor="end">'
        f"{t:g}</text>"
        for t in TICKS
    )
    return (
        f'<g class="grid" stroke="#000" stroke-opacity=".12">{lines}</g>'
        f'<rect width="{PLOT}" height="{PLOT}" fill="none" stroke="#888"/>'
        f'<g class="axis x-axis" stroke="#888" font-size="11" fill="#444">{x_ticks}'
        f'<text x="{PLOT + 10}" y="-9" font-style="italic">x</text></g>'
        f'<g class="axis y-axis" stroke="#888" font-size="11" fill="#444">{y_ticks}'
        f'<text x="-8" y="{PLOT + 14}" text-anchor="end" font-style="italic">y ↓</text></g>'
    )


def overlaps(
    boxes: npt.NDArray[np.float64], others: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The area each box shares with all the others (rows: left, top, right, bottom)."""
    low = np.maximum(boxes[:, None, :2], others[None, :, :2])
    high = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    shared: npt.NDArray[np.float64] = (high - low).clip(0).prod(axis=2).sum(axis=1)
    return shared


# Where a label may go, from its cluster's centre: right or left, above or below, or centred
# above or below, each at a few distances.
DIRECTIONS = np.array([(1, -1), (1, 1), (-1, -1), (-1, 1), (0, -1.4), (0, 1.4)])
REACHES = (18, 34, 52)  # pixels, beyond the first, which depends on the radius


def place_labels(
    clusters: Sequence[ClusterSummary], texts: dict[int, str]
) -> dict[int, tuple[float, float]]:
    """Where each cluster's label starts (left, baseline): beside its circle, inside the square,
    where it overlaps the labels placed before it least, the biggest clusters first."""
    placed = np.empty((0, 4))  # left, top, right, bottom of each label placed
    starts: dict[int, tuple[float, float]] = {}
    for c in sorted(clusters, key=lambda c: (-c.size, c.cluster_idx)):
        width, height = len(texts[c.cluster_idx]) * CHAR_WIDTH, LABEL_FONT + 2
        reaches = np.repeat([max(c.radius * PLOT, 4) * 0.75 + 3, *REACHES], len(DIRECTIONS))
        dx, dy = np.tile(DIRECTIONS, (len(REACHES) + 1, 1)).T
        left = c.centroid.x * PLOT + dx * reaches - np.select([dx < 0, dx == 0], [width, width / 2])
        top = c.centroid.y * PLOT + dy * reaches - np.where(dy < 0, height, 0)
        left, top = np.clip(left, 0, PLOT - width), np.clip(top, 0, PLOT - height)
        boxes = np.stack([left, top, left + width, top + height], axis=1)
        best = boxes[int(np.argmin(overlaps(boxes, placed)))]
        placed = np.vstack([placed, best])
        starts[c.cluster_idx] = float(best[0]), float(best[3]) - 3
    return starts


def share(size: int, total: int) -> str:
    percent = 100 * size / total
    return "<0.1%" if percent < 0.05 else f"{percent:.1f}%"


def cluster_label(c: ClusterSummary, total: int) -> str:
    return f"#{c.cluster_idx} · {c.size:,} · {share(c.size, total)}"


def cluster_marks(clusters: Sequence[ClusterSummary]) -> str:
    total = sum(c.size for c in clusters)
    texts = {c.cluster_idx: cluster_label(c, total) for c in clusters}
    starts = place_labels(clusters, texts)
    return "".join(
        f'<g class="cluster" data-cluster-idx="{c.cluster_idx}">'
        f'<circle class="outline" cx="{c.centroid.x * PLOT:.1f}" cy="{c.centroid.y * PLOT:.1f}" '
        f'r="{max(c.radius * PLOT, 4):.1f}"/>'
        f'<circle cx="{c.centroid.x * PLOT:.1f}" cy="{c.centroid.y * PLOT:.1f}" r="2"/>'
        f'<text class="cluster-label" x="{starts[c.cluster_idx][0]:.1f}" '
        f'y="{starts[c.cluster_idx][1]:.1f}">{escape(texts[c.cluster_idx])}</text></g>'
        for c in clusters
    )


def heatmap_svg(
    page_uuid: str, clusters: Sequence[ClusterSummary], background: str | None = None
) -> str:
    """The page's unit square, y pointing down as on a screen: the modelled click density as
    coloured cells with a legend, each cluster outlined at its RMS radius and labelled with its
    idx, clicks and share, the axes, and under it all the background image, if any."""
    cells = density(clusters)
    bounds = class_bounds(float(cells.max(initial=0)))
    image = (
        f'<image class="background" href="{escape(background)}" width="{PLOT}" '
        f'height="{PLOT}" preserveAspectRatio="none" opacity="0.6"/>'
        if background
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="system-ui,sans-serif">'
        f"<title>Clicks on {escape(page_uuid)}</title>"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>'
        f'<g transform="translate({LEFT},{TOP})">{image}'
        f'<g class="density" fill-opacity="{CELL_OPACITY}" shape-rendering="crispEdges">'
        f"{density_cells(cells, bounds)}</g>{axes()}"
        '<g class="clusters" fill="#111" stroke-width="1.5">'
        "<style>.outline{fill:none;stroke:#111}.cluster-label{font-size:12px;font-weight:600;"
        "stroke:white;stroke-width:3px;stroke-linejoin:round;paint-order:stroke}</style>"
        f"{cluster_marks(clusters)}</g></g>{legend(bounds)}</svg>"
    )


# HTML


def href(path: str, **params: object) -> str:
    """A link to `path` with the given parameters, those that are None left out, escaped for
    an attribute."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return escape(f"{path}?{query}")


def document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def sparkline(counts: list[int]) -> str:
    """Clicks per day as bars, scaled to the busiest day."""
    if not counts:
        return ""
    step, peak = SPARK_WIDTH / len(counts), max(*counts, 1)
    bars = "".join(
        f"V{SPARK_HEIGHT - count * (SPARK_HEIGHT - 1) / peak:.1f}h{step:.2f}" for count in counts
    )
    return (
        f'<svg class="trend" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" '
        f'viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}"><path d="M0,{SPARK_HEIGHT}{bars}'
        f'V{SPARK_HEIGHT}Z" fill="#5b7ba6"/></svg>'
    )


def trend_cell(counts: list[int], first: date) -> str:
    busiest = max(range(len(counts)), key=counts.__getitem__, default=None)
    if busiest is None or counts[busiest] == 0:
        return f"<td>{sparkline(counts)} <small>none</small></td>"
    most = counts[busiest]
    return (
        f'<td title="most: {most:,} on {add_days(first, busiest)}">{sparkline(counts)} '
        f"<small>max {most:,}/day</small></td>"
    )


def heatmap_page(
    query: HeatmapRequest,
    clusters: Sequence[ClusterSummary],
    trends: Iterable[tuple[int, date, int]],
    days: tuple[date, date],
) -> str:
    """The heatmap beside a table of the clusters, the biggest first, each with its trend:
    its clicks on each of `days` (first, last); a form to change the window and background,
    and links to the same window as JSON, SVG and CSV. Plain HTML, no JavaScript."""
    first, last = days
    daily = {c.cluster_idx: [0] * max((last - first).days + 1, 0) for c in clusters}
    for cluster_idx, day, clicks in trends:
        if cluster_idx in daily:  # else opened between the two reads
            daily[cluster_idx][(day - first).days] = clicks
    total = sum(c.size for c in clusters)
    rows = "".join(
        f'<tr data-cluster-idx="{c.cluster_idx}"><td>#{c.cluster_idx}</td><td>{c.size:,}</td>'
        f"<td>{share(c.size, total)}</td><td>{c.centroid.x:.3f}</td>"
        f"<td>{c.centroid.y:.3f}</td><td>{c.radius:.3f}</td>"
        f"{trend_cell(daily[c.cluster_idx], first)}</tr>"
        for c in sorted(clusters, key=lambda c: (-c.size, c.cluster_idx))
    )
    page, since, until = query.page_uuid, query.since, query.until
    window = {
        "page_uuid": page,
        "since": since and since.isoformat(),
        "until": until and until.isoformat(),
    }
    since_value = since and utc_day(since).isoformat()
    until_value = until and add_days(last_day(until), 1).isoformat()
    body = (
        f'<nav><a href="/pages.html">All pages</a></nav><h1>Clicks on {escape(page)}</h1>'
        f"<p>{total:,} clicks in {len(clusters)} clusters; {window_text(since, until)}.</p>"
        '<form method="get" action="/heatmap">'
        f'<input type="hidden" name="page_uuid" value="{escape(page)}">'
        f'<label>since (UTC day)<input type="date" name="since" value="{since_value or ""}">'
        "</label>"
        '<label>until (UTC day, not included)<input type="date" name="until" '
        f'value="{until_value or ""}"></label>'
        '<label>background image URL<input type="url" name="background" '
        f'placeholder="https://…" value="{escape(query.background or "")}"></label>'
        "<button>Show</button></form>"
        f'<p>This window as <a href="{href("/clusters", **window)}">JSON</a> · '
        f'<a href="{href("/heatmap.svg", **window, background=query.background)}">SVG</a> · '
        f'<a href="{href("/clicks.csv", **window)}">CSV of its clicks</a></p>'
        f"<main>{heatmap_svg(page, clusters, query.background)}"
        "<table><thead><tr><th>cluster</th><th>clicks</th><th>share</th><th>x</th><th>y</th>"
        f"<th>RMS radius</th><th>clicks per day, {first} to {last}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></main>"
        '<p class="note">Colour shows the click density modelled from the size, centroid and RMS '
        "radius of each cluster (a 2-D Gaussian each), not drawn from the raw clicks. Windows "
        "count whole UTC days.</p>"
    )
    return document(f"clicks on {page}", body)


def pages_page(query: PagesRequest, found: PagesResponse) -> str:
    """The pages with clicks, each linking to its heatmap, a form for the prefix and order, and
    a link to the next ones."""
    rows = "".join(
        f'<tr><td><a href="{href("/heatmap", page_uuid=p.page_uuid)}">{escape(p.page_uuid)}</a>'
        f"</td><td>{p.clicks:,}</td><td>{p.clusters:,}</td>"
        f"<td>{p.last_click_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}</td></tr>"
        for p in found.pages
    )
    listing = {"prefix": query.prefix or None, "sort": query.sort, "limit": query.limit}
    sorts = {"clicks": "most clicks first", "recent": "latest click first"}
    options = "".join(
        f'<option value="{sort}"{" selected" if sort == query.sort else ""}>{text}</option>'
        for sort, text in sorts.items()
    )
    links = (
        [
            f'<a rel="next" href="{href("/pages.html", **listing, cursor=found.next_cursor)}">'
            f"next {query.limit} pages</a>"
        ]
        if found.next_cursor
        else []
    )
    if query.cursor:
        links.append(f'<a href="{href("/pages.html", **listing)}">first pages</a>')
    as_json = href("/pages", **listing, cursor=query.cursor)
    links.append(f'this list as <a href="{as_json}">JSON</a>')
    starting = f" whose id starts with <code>{escape(query.prefix)}</code>" if query.prefix else ""
    body = (
        "<h1>Pages</h1>"
        f"<p>Pages with clicks{starting}, {sorts[query.sort]}; each opens its heatmap.</p>"
        '<form method="get" action="/pages.html">'
        f'<label>page id starts with<input name="prefix" value="{escape(query.prefix)}"></label>'
        f'<label>order<select name="sort">{options}</select></label>'
        f'<input type="hidden" name="limit" value="{query.limit}"><button>Show</button></form>'
        "<table><thead><tr><th>page</th><th>clicks</th><th>clusters</th>"
        f"<th>latest click (UTC)</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>{'' if rows else 'None here. '}{' · '.join(links)}</p>"
    )
    return document("pages", body)
