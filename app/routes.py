"""HTTP endpoints: validate, call the database layer, shape the answer."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from app import db
from app.data_models import (
    ErrorResponse,
    NewClickRequest,
    NewClickResponse,
    PredictClickResponse,
    VersionResponse,
)
from app.settings import Settings


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection[TupleRow]]:
    pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = request.state.pool
    async with pool.connection() as conn:
        yield conn


def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


ConnectionDep = Annotated[AsyncConnection[TupleRow], Depends(get_connection)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

router = APIRouter(responses={503: {"model": ErrorResponse, "description": "Database unavailable"}})


@router.get("/")
async def version() -> VersionResponse:
    return VersionResponse(version=0)


async def save_click_and_predict_cluster(
    click: NewClickRequest, conn: ConnectionDep, settings: SettingsDep
) -> NewClickResponse:
    """Store a click and answer which cluster of its page it joined, or that it opened one."""
    assignment = await db.save_click(
        conn, click.page_uuid, click.coordinates.x, click.coordinates.y, settings.cluster_radius
    )
    return NewClickResponse(cluster_idx=assignment.cluster_idx, is_new=assignment.is_new)


async def predict_cluster(
    click: NewClickRequest, conn: ConnectionDep, settings: SettingsDep
) -> PredictClickResponse:
    """Answer which cluster a click would join, storing nothing; null if it would open one."""
    cluster_idx = await db.predict_cluster(
        conn, click.page_uuid, click.coordinates.x, click.coordinates.y, settings.cluster_radius
    )
    return PredictClickResponse(cluster_idx=cluster_idx)


for path, endpoint, in_schema in (
    ("/save_click_and_predict_cluster", save_click_and_predict_cluster, True),
    ("/predict_cluster", predict_cluster, True),
    # Older names that existing clients still call.
    ("/new_click", save_click_and_predict_cluster, False),
    ("/predict_click", predict_cluster, False),
):
    router.add_api_route(path, endpoint, methods=["POST"], include_in_schema=in_schema)
