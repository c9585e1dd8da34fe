"""HTTP endpoints: validate, call the database layer, shape the answer."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic_core import to_json

from app import db, export, metrics, views
from app.data_models import (
    ClustersRequest,
    ClusterSummary,
    Coordinates,
    ErrorResponse,
    GetBestClusterRequest,
    GetBestClusterResponse,
    HeatmapRequest,
    IdempotencyKey,
    NewClickRequest,
    NewClickResponse,
    PagesCursor,
    PagesRequest,
    PagesResponse,
    PredictClickResponse,
    StatusResponse,
    VersionResponse,
)
from app.deps import HeadRevisionDep, PoolDep, ReadPoolDep, SettingsDep
from app.guards import require_json
from app.pool import Pool
from app.unavailable import NotAtHeadError

READY_TIMEOUT_SECONDS = 1.0

Responses = dict[int | str, dict[str, Any]]
UNAVAILABLE: Responses = {503: {"model": ErrorResponse, "description": "Database unavailable"}}
UNAUTHORIZED: Responses = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token"}
}
JSON_BODY: Responses = {
    413: {"model": ErrorResponse, "description": "Body too large"},
    415: {"model": ErrorResponse, "description": "Body is not JSON"},
}
# What every client may call, token or not; the others need it when API_TOKEN is set
# (create_app decides).
probes = APIRouter()
clicks = APIRouter(dependencies=[Depends(require_json)], responses={**UNAVAILABLE, **JSON_BODY})


@probes.get("/")
async def version() -> VersionResponse:
    return VersionResponse(version=0)


@probes.get("/health")
async def health() -> StatusResponse:
    """Liveness: the process answers. Touches nothing."""
    return StatusResponse(status="ok")


@probes.get("/ready", responses=UNAVAILABLE)
async def ready(pool: PoolDep, head_revision: HeadRevisionDep) -> StatusResponse:
    """Readiness: the database answers through the pool and its schema is at the head revision."""
    revision = await db.schema_revision(pool, wait_seconds=READY_TIMEOUT_SECONDS)
    if revision != head_revision:
        raise NotAtHeadError
    return StatusResponse(status="ok")


IDEMPOTENCY_KEY_DESCRIPTION = (
    "Optional. A save with a key is stored at most once per page and key: a retry with the same"
    " key and click answers what the first answered and stores nothing; with another click, 422."
)


@clicks.post(
    "/save_click_and_predict_cluster",
    responses={422: {"description": "Invalid body, or an Idempotency-Key used for another click"}},
)
@clicks.post("/new_click", include_in_schema=False)  # the older name existing clients call
async def save_click_and_predict_cluster(
    click: NewClickRequest,
    pool: PoolDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        IdempotencyKey | None, Header(description=IDEMPOTENCY_KEY_DESCRIPTION)
    ] = None,
) -> NewClickResponse:
    """Store a click and answer which cluster of its page it joined, or that it opened one."""
    try:
        saved = await db.save_click(pool, click, settings.cluster_radius, idempotency_key)
    except db.KeyReusedError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    if not saved.replayed:
        metrics.CLICKS_SAVED.inc()
        metrics.CLUSTERS_OPENED.inc(saved.is_new)
    return NewClickResponse(cluster_idx=saved.cluster_idx, is_new=saved.is_new)


@clicks.post("/predict_cluster")
@clicks.post("/predict_click", include_in_schema=False)  # the older name existing clients call
async def predict_cluster(
    click: NewClickRequest, pool: PoolDep, settings: SettingsDep
) -> PredictClickResponse:
    """Answer which cluster a click would join, storing nothing; null if it would open one."""
    cluster_idx = await db.predict_cluster(pool, click, settings.cluster_radius)
    return PredictClickResponse(cluster_idx=cluster_idx)


reads = APIRouter(responses=UNAVAILABLE)
PAGE_NOT_FOUND: Responses = {
    404: {"model": ErrorResponse, "description": "The page never had a click saved"}
}


def page_not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="page not found")


@reads.get("/clusters", responses=PAGE_NOT_FOUND)
async def clusters(
    query: Annotated[ClustersRequest, Query()], pool: ReadPoolDep
) -> list[ClusterSummary]:
    """A page's clusters by idx, counting only the UTC days that overlap [since, until) when
    given."""
    return await cluster_summaries(pool, query.page_uuid, query.since, query.until)


async def cluster_summaries(
    pool: Pool, page_uuid: str, since: datetime | None = None, until: datetime | None = None
) -> list[ClusterSummary]:
    """Raises 404 for an unknown page, asking the database only when no cluster came back."""
    summaries = await db.cluster_summaries(pool, page_uuid, since, until)
    if not summaries and not await db.page_exists(pool, page_uuid):
        raise page_not_found()
    return [
        ClusterSummary(
            cluster_idx=stats.cluster_idx,
            size=stats.size,
            centroid=Coordinates(x=stats.cx, y=stats.cy),
            radius=stats.radius,
        )
        for stats in summaries
    ]


@reads.get("/pages")
async def pages(query: Annotated[PagesRequest, Query()], pool: ReadPoolDep) -> PagesResponse:
    """The pages that have clicks, with their clicks, clusters and latest click, most clicks (or
    latest click) first; `next_cursor` asks for the next ones."""
    return await page_list(pool, query)


@reads.get("/pages.html", responses={200: {"content": {"text/html": {}}}})
async def pages_page(query: Annotated[PagesRequest, Query()], pool: ReadPoolDep) -> HTMLResponse:
    """The same list as a plain HTML page, each page linking to its heatmap."""
    return HTMLResponse(views.pages_page(query, await page_list(pool, query)))


async def page_list(pool: Pool, query: PagesRequest) -> PagesResponse:
    found = await db.pages(pool, query.prefix, query.sort, query.limit + 1, query.after)
    shown = found[: query.limit]
    more = len(found) > query.limit
    next_cursor = PagesCursor.after(query.sort, shown[-1]).encode() if more else None
    return PagesResponse(pages=shown, next_cursor=next_cursor)


BEST_CLUSTER: dict[str, Any] = {
    "response_model": GetBestClusterResponse,
    "responses": PAGE_NOT_FOUND,
}


@reads.get("/get_best_cluster", **BEST_CLUSTER)
@reads.get("/get_best_cluster_api", **BEST_CLUSTER, include_in_schema=False)  # the brief's name
async def get_best_cluster(
    query: Annotated[GetBestClusterRequest, Query()], pool: ReadPoolDep
) -> Response:
    """The cluster with the most clicks (ties: lower idx) with its clicks, oldest first: all of
    them, or the first `limit`."""
    return await best_cluster(pool, query)


BEST_CLUSTER_BY_POST: dict[str, Any] = {
    **BEST_CLUSTER,
    "responses": {**PAGE_NOT_FOUND, **JSON_BODY},
    "dependencies": [Depends(require_json)],
}


@reads.post("/get_best_cluster", **BEST_CLUSTER_BY_POST)
@reads.post("/get_best_cluster_api", **BEST_CLUSTER_BY_POST, include_in_schema=False)
async def get_best_cluster_by_post(request: GetBestClusterRequest, pool: ReadPoolDep) -> Response:
    """The same as `GET /get_best_cluster`, asked with a JSON body."""
    return await best_cluster(pool, request)


async def best_cluster(pool: Pool, request: GetBestClusterRequest) -> Response:
    best = await db.biggest_cluster(pool, request.page_uuid, request.limit)
    if best is None:
        raise page_not_found()
    cluster_idx, points = best
    # GetBestClusterResponse's JSON straight from the rows: a model per click costs seconds on
    # a cluster of a million.
    coordinates = [{"x": x, "y": y} for x, y in points]
    answer = {"cluster": {"cluster_idx": cluster_idx, "all_coordinates": coordinates}}
    return Response(to_json(answer), media_type="application/json")


@reads.get(
    "/clicks.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **PAGE_NOT_FOUND},
)
async def clicks_csv(
    query: Annotated[ClustersRequest, Query()], pool: ReadPoolDep
) -> StreamingResponse:
    """The page's clicks saved in [since, until) as CSV, oldest first: x, y, cluster_idx and
    created_at (ISO 8601, UTC), streamed from the database whatever the page's size."""
    batches = db.clicks_in_window(pool, query.page_uuid, query.since, query.until)
    try:
        first = await anext(batches)
    except db.PageNotFoundError as error:
        raise page_not_found() from error
    return StreamingResponse(
        export.csv_chunks(first, batches),
        media_type="text/csv",
        headers={"Content-Disposition": export.attachment(query.page_uuid)},
    )


@reads.get("/heatmap.svg", responses={200: {"content": {"image/svg+xml": {}}}, **PAGE_NOT_FOUND})
async def heatmap_svg(query: Annotated[HeatmapRequest, Query()], pool: ReadPoolDep) -> Response:
    """The page's click density, modelled from its clusters over the days of [since, until),
    with a legend, each cluster outlined and labelled, the axes, and the `background` image
    under it."""
    summaries = await cluster_summaries(pool, query.page_uuid, query.since, query.until)
    svg = views.heatmap_svg(query.page_uuid, summaries, query.background)
    return Response(svg, media_type="image/svg+xml")


@reads.get("/heatmap", responses={200: {"content": {"text/html": {}}}, **PAGE_NOT_FOUND})
async def heatmap_page(
    query: Annotated[HeatmapRequest, Query()], pool: ReadPoolDep
) -> HTMLResponse:
    """The heatmap beside a table of the clusters with their daily trends, as a plain HTML page
    with a form for the window and the background."""
    summaries = await cluster_summaries(pool, query.page_uuid, query.since, query.until)
    days = views.trend_days(query.since, query.until, today=datetime.now(UTC).date())
    trends = await db.cluster_trends(pool, query.page_uuid, *days)
    return HTMLResponse(views.heatmap_page(query, summaries, trends, days))


@reads.get("/metrics", responses={200: {"content": {"text/plain": {}}}})
async def prometheus_metrics(pool: PoolDep, read_pool: ReadPoolDep) -> Response:
    """Prometheus exposition: requests by route and status, latency, saves, pool usage."""
    metrics.sample_pools([pool, read_pool])  # this worker's now; the others' within a second
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")


# What needs the token when API_TOKEN is set, the busiest first: each router included is one
# more step for every request to match through.
PROTECTED = (clicks, reads)
# The paths BearerToken lets through without a token.
OPEN_PATHS = frozenset(route.path for route in probes.routes if isinstance(route, APIRoute))
