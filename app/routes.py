"""HTTP endpoints: validate, call the database layer, shape the answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from app import db
from app.data_models import (
    ErrorResponse,
    NewClickRequest,
    NewClickResponse,
    PredictClickResponse,
    StatusResponse,
    VersionResponse,
)
from app.guards import require_json, require_token
from app.settings import Settings

READY_TIMEOUT_SECONDS = 1.0


async def get_pool(request: Request) -> db.Pool:
    pool: db.Pool = request.state.pool
    return pool


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


# The pool, not a connection: a request takes one only once its body is valid.
PoolDep = Annotated[db.Pool, Depends(get_pool)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "Database unavailable"}
}
router = APIRouter()
clicks = APIRouter(
    dependencies=[Depends(require_token), Depends(require_json)],
    responses={
        **UNAVAILABLE,
        401: {"model": ErrorResponse, "description": "Missing or wrong bearer token"},
        413: {"model": ErrorResponse, "description": "Body too large"},
        415: {"model": ErrorResponse, "description": "Body is not JSON"},
    },
)


@router.get("/")
async def version() -> VersionResponse:
    return VersionResponse(version=0)


@router.get("/health")
async def health() -> StatusResponse:
    """Liveness: the process answers. Touches nothing."""
    return StatusResponse(status="ok")


@router.get("/ready", responses=UNAVAILABLE)
async def ready(request: Request, pool: PoolDep) -> StatusResponse:
    """Readiness: the database answers through the pool and its schema is at the head revision."""
    revision = await db.schema_revision(pool, wait_seconds=READY_TIMEOUT_SECONDS)
    if revision != request.state.head_revision:
        raise HTTPException(status_code=503, detail="migrations are not at head")
    return StatusResponse(status="ok")


async def save_click_and_predict_cluster(
    click: NewClickRequest, pool: PoolDep, settings: SettingsDep
) -> NewClickResponse:
    """Store a click and answer which cluster of its page it joined, or that it opened one."""
    assignment = await db.save_click(
        pool, click.page_uuid, click.coordinates.x, click.coordinates.y, settings.cluster_radius
    )
    return NewClickResponse(cluster_idx=assignment.cluster_idx, is_new=assignment.is_new)


async def predict_cluster(
    click: NewClickRequest, pool: PoolDep, settings: SettingsDep
) -> PredictClickResponse:
    """Answer which cluster a click would join, storing nothing; null if it would open one."""
    cluster_idx = await db.predict_cluster(
        pool, click.page_uuid, click.coordinates.x, click.coordinates.y, settings.cluster_radius
    )
    return PredictClickResponse(cluster_idx=cluster_idx)


for path, endpoint, in_schema in (
    ("/save_click_and_predict_cluster", save_click_and_predict_cluster, True),
    ("/predict_cluster", predict_cluster, True),
    # Older names that existing clients still call.
    ("/new_click", save_click_and_predict_cluster, False),
    ("/predict_click", predict_cluster, False),
):
    clicks.add_api_route(path, endpoint, methods=["POST"], include_in_schema=in_schema)
router.include_router(clicks)
