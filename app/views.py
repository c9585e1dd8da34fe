"""The heatmap of a page, as SVG and as an HTML page: pure rendering, no I/O."""

from collections.abc import Sequence
from html import escape

from app.data_models import ClusterSummary

SIZE = 600  # pixels per unit of the page's square
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def colour(cluster_idx: int) -> str:
    return PALETTE[cluster_idx % len(PALETTE)]


def heatmap_svg(clusters: list[ClusterSummary], clicks: Sequence[tuple[float, float, int]]) -> str:
    """The page's unit square, y pointing down as on a screen: clicks as dots coloured by
    cluster, and each cluster's centroid, radius, idx and size."""
    dots = "".join(
        f'<circle cx="{x * SIZE:.1f}" cy="{y * SIZE:.1f}" r="2" fill="{colour(idx)}"/>'
        for x, y, idx in clicks
    )
    marks = "".join(
        f'<g class="centroid" data-cluster-idx="{c.cluster_idx}">'
        f'<circle cx="{c.centroid.x * SIZE:.1f}" cy="{c.centroid.y * SIZE:.1f}" '
        f'r="{max(c.radius * SIZE, 3):.1f}" fill="none" stroke="{colour(c.cluster_idx)}"/>'
        f'<path d="M{c.centroid.x * SIZE - 5:.1f},{c.centroid.y * SIZE:.1f}h10'
        f'M{c.centroid.x * SIZE:.1f},{c.centroid.y * SIZE - 5:.1f}v10" stroke="black"/>'
        f'<text x="{c.centroid.x * SIZE + 6:.1f}" y="{c.centroid.y * SIZE - 6:.1f}" '
        f'font-size="11">{c.cluster_idx} ({c.size})</text></g>'
        for c in clusters
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}" font-family="sans-serif">'
        f'<rect width="{SIZE}" height="{SIZE}" fill="white" stroke="#ccc"/>'
        f'<g class="clicks" fill-opacity="0.5">{dots}</g>{marks}</svg>'
    )


def heatmap_page(
    page_uuid: str, clusters: list[ClusterSummary], clicks: Sequence[tuple[float, float, int]]
) -> str:
    """The picture beside a table of the clusters; plain HTML, no JavaScript."""
    rows = "".join(
        f'<tr><td style="color:{colour(c.cluster_idx)}">&#9679; {c.cluster_idx}</td>'
        f"<td>{c.size}</td><td>{c.centroid.x:.3f}</td><td>{c.centroid.y:.3f}</td>"
        f"<td>{c.radius:.3f}</td></tr>"
        for c in clusters
    )
    title = escape(page_uuid)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>clicks on {title}</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}main{display:flex;gap:2em;"
        "align-items:flex-start}table{border-collapse:collapse}td,th{padding:2px 10px;"
        "text-align:right;border-bottom:1px solid #eee}</style></head><body>"
        f"<h1>Clicks on {title}</h1>"
        f"<p>{sum(c.size for c in clusters)} clicks in {len(clusters)} clusters"
        f"{f'; {len(clicks)} of them drawn' if clicks else ''}.</p>"
        f"<main>{heatmap_svg(clusters, clicks)}"
        "<table><thead><tr><th>cluster</th><th>clicks</th><th>x</th><th>y</th>"
        f"<th>radius</th></tr></thead><tbody>{rows}</tbody></table></main></body></html>"
    )
