"""The app's lifespan state, and the dependencies that hand its parts to endpoints and guards."""

from typing import Annotated, TypedDict

from fastapi import Depends, Request

from app.pool import Pool
from app.settings import Settings


class State(TypedDict):
    settings: Settings
    pool: Pool
    read_pool: Pool  # the read endpoints', so they cannot take the connections saves need
    head_revision: str | None  # the migration the code expects the database at


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def app_pool(request: Request) -> Pool:
    pool: Pool = request.state.pool
    return pool


async def app_read_pool(request: Request) -> Pool:
    pool: Pool = request.state.read_pool
    return pool


async def head_revision(request: Request) -> str | None:
    revision: str | None = request.state.head_revision
    return revision


SettingsDep = Annotated[Settings, Depends(app_settings)]
HeadRevisionDep = Annotated[str | None, Depends(head_revision)]
# The pool, not a connection: a request takes one only once its body is valid.
PoolDep = Annotated[Pool, Depends(app_pool)]
ReadPoolDep = Annotated[Pool, Depends(app_read_pool)]
