"""Health checks, body size, content type, bearer token, and hostile input."""

import json
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from app.main import create_app
from app.pool import Connection
from app.settings import Settings
from tests.db_checks import snapshot
from tests.helpers import CLICK_ROUTES, SAVE, app_client, click, in_chunks, random_prefix

TOKEN = "s3cret-token"
WITH_TOKEN = {"authorization": f"Bearer {TOKEN}"}
OPEN = ["/", "/health", "/ready"]


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"status": "ok"}


async def test_not_ready_before_migrations(server_url: str) -> None:
    name = f"clickclust_empty_{random_prefix()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        settings = Settings(database_url=make_conninfo(server_url, dbname=name))
        async with app_client(settings) as client:
            response = await client.get("/ready")
            assert (response.status_code, response.json()) == (
                503,
                {"detail": "migrations are not at head"},
            )
            assert (await client.get("/health")).status_code == 200
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


async def test_unreachable_database_gives_503() -> None:
    unreachable = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1"
    async with app_client(Settings(database_url=unreachable)) as client:
        for route, body in [("/ready", None), (SAVE, click("p")), ("/predict_cluster", click("p"))]:
            response = await (client.get(route) if body is None else client.post(route, json=body))
            assert response.status_code == 503
            assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    "page_uuid",
    [
        'it\'s "quoted"',
        "back\\slash\\\\",
        "'; DROP TABLE clicks; --",
        "1' OR '1'='1",
        "%s %(x)s {}",
        "\u2603 \U0001f5b1 \u202e",
        " ",
        "x" * 255,
    ],
)
async def test_odd_page_uuids_are_stored_verbatim(
    client: httpx.AsyncClient, conn: Connection, page_uuid: str
) -> None:
    page = random_prefix() + page_uuid[: 255 - 12]
    assert (await client.post(SAVE, json=click(page))).json() == {"cluster_idx": 0, "is_new": True}
    assert (await client.post("/predict_cluster", json=click(page))).json() == {"cluster_idx": 0}
    cursor = await conn.execute("SELECT page_uuid FROM clicks WHERE page_uuid = %s", (page,))
    assert await cursor.fetchall() == [(page,)]


@pytest.mark.parametrize("route", CLICK_ROUTES)
async def test_body_over_64_kib_is_413(
    client: httpx.AsyncClient, conn: Connection, route: str
) -> None:
    before = await snapshot(conn)
    padded = json.dumps({**click(random_prefix()), "padding": "x" * 70_000})
    response = await client.post(
        route, content=padded, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "bytes" in response.json()["detail"]

    streamed = await client.post(
        route, content=in_chunks(padded), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert await snapshot(conn) == before


@pytest.mark.parametrize("route", CLICK_ROUTES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, conn: Connection, route: str, content_type: str | None
) -> None:
    before = await snapshot(conn)
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(route, content=json.dumps(click("p")), headers=headers)
    assert (response.status_code, response.json()) == (
        415,
        {"detail": "Content-Type must be application/json"},
    )
    assert await snapshot(conn) == before


async def test_json_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict_cluster",
        content=json.dumps(click(random_prefix())),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.json() == {"cluster_idx": None}


@pytest.fixture
async def token_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, api_token=SecretStr(TOKEN))
    async with app_client(settings) as client:
        yield client


@pytest.mark.parametrize("route", CLICK_ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Bearer s3cret-toke", "Basic czNjcmV0LXRva2Vu", ""]
)
async def test_with_api_token_set_clicks_need_it(
    token_client: httpx.AsyncClient, conn: Connection, route: str, authorization: str | None
) -> None:
    before = await snapshot(conn)
    headers = {"authorization": authorization} if authorization is not None else {}
    response = await token_client.post(route, json=click(random_prefix()), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert await snapshot(conn) == before


async def test_with_api_token_set_the_right_token_passes(token_client: httpx.AsyncClient) -> None:
    response = await token_client.post(SAVE, json=click(random_prefix()), headers=WITH_TOKEN)
    assert response.json() == {"cluster_idx": 0, "is_new": True}


@pytest.mark.parametrize("route", OPEN)
async def test_with_api_token_set_probes_stay_open(
    token_client: httpx.AsyncClient, route: str
) -> None:
    assert (await token_client.get(route)).status_code == 200


NESTED = "[" * 10_000 + "]" * 10_000
TOO_LARGE = json.dumps({**click("p"), "padding": "x" * 70_000})


@pytest.mark.parametrize("route", CLICK_ROUTES)
@pytest.mark.parametrize(
    ("body", "streamed"),
    [("{not json", False), (NESTED, False), (TOO_LARGE, False), (TOO_LARGE, True)],
    ids=["invalid", "nested", "too large", "too large, streamed"],
)
async def test_with_api_token_set_the_token_is_checked_before_the_body(
    token_client: httpx.AsyncClient, route: str, body: str, streamed: bool
) -> None:
    content = in_chunks(body) if streamed else body
    response = await token_client.post(
        route, content=content, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "missing or wrong bearer token"},
    )
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("route", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
async def test_with_api_token_set_the_docs_need_it(
    token_client: httpx.AsyncClient, route: str
) -> None:
    assert (await token_client.get(route)).status_code == 401
    assert (await token_client.get(route, headers=WITH_TOKEN)).status_code == 200


def test_openapi_shows_the_bearer_exactly_when_a_token_is_set() -> None:
    for token in [None, SecretStr(TOKEN)]:
        schema = create_app(Settings(api_token=token)).openapi()
        assert ("securitySchemes" in schema.get("components", {})) == (token is not None)
        for path, operations in schema["paths"].items():
            needs_token = token is not None and path not in OPEN
            for operation in operations.values():
                assert ("security" in operation) == needs_token, path
                assert ("401" in operation["responses"]) == needs_token, path
