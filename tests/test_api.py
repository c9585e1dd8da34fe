"""The HTTP contract, through the real app and a real PostgreSQL."""

import asyncio
import json
from typing import Any

import httpx
import pytest

from app.pool import Connection
from tests.db_checks import assert_clusters_match_clicks, snapshot
from tests.helpers import CLICK_ROUTES, click, random_prefix


async def test_root_answers_the_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert (response.status_code, response.json()) == (200, {"version": 0})


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/meow")).status_code == 404


async def test_old_route_names_are_not_in_the_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/save_click_and_predict_cluster" in paths
    assert "/predict_cluster" in paths
    assert "/new_click" not in paths
    assert "/predict_click" not in paths


async def test_save_then_predict(client: httpx.AsyncClient, conn: Connection) -> None:
    page = random_prefix() + "/1"
    saved = await client.post("/save_click_and_predict_cluster", json=click(page, 0.2, 0.2))
    assert saved.json() == {"cluster_idx": 0, "is_new": True}
    joined = await client.post("/save_click_and_predict_cluster", json=click(page, 0.23, 0.2))
    assert joined.json() == {"cluster_idx": 0, "is_new": False}
    opened = await client.post("/save_click_and_predict_cluster", json=click(page, 0.8, 0.8))
    assert opened.json() == {"cluster_idx": 1, "is_new": True}
    # The centroid of cluster 0 is now (0.215, 0.2): 0.25 is 0.035 from it, 0.26 is 0.045.
    near = await client.post("/predict_cluster", json=click(page, 0.25, 0.2))
    assert near.json() == {"cluster_idx": 0}
    far = await client.post("/predict_cluster", json=click(page, 0.26, 0.2))
    assert far.json() == {"cluster_idx": None}
    cursor = await conn.execute(
        "SELECT seq, x, y, cluster_idx FROM clicks WHERE page_uuid = %s ORDER BY seq", (page,)
    )
    assert await cursor.fetchall() == [(1, 0.2, 0.2, 0), (2, 0.23, 0.2, 0), (3, 0.8, 0.8, 1)]


async def test_predict_writes_nothing(client: httpx.AsyncClient, conn: Connection) -> None:
    page = random_prefix() + "/1"
    await client.post("/save_click_and_predict_cluster", json=click(page, 0.5, 0.5))
    before = await snapshot(conn)
    for target_page, x in [(page, 0.5), (page, 0.9), (random_prefix() + "/never-seen", 0.5)]:
        for route in ("/predict_cluster", "/predict_click"):
            response = await client.post(route, json=click(target_page, x, 0.5))
            assert response.status_code == 200
    assert await snapshot(conn) == before


async def test_predict_on_an_unknown_page_is_null(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict_cluster", json=click(random_prefix(), 0.5, 0.5))
    assert response.json() == {"cluster_idx": None}


async def test_page_uuid_is_any_label_not_a_uuid(
    client: httpx.AsyncClient, conn: Connection
) -> None:
    page = random_prefix() + "/3 'quoted' \\ ; DROP TABLE clicks; --" + "é" * 200
    response = await client.post("/save_click_and_predict_cluster", json=click(page, 0, 1))
    assert response.json() == {"cluster_idx": 0, "is_new": True}
    cursor = await conn.execute("SELECT count(*) FROM clicks WHERE page_uuid = %s", (page,))
    assert await cursor.fetchone() == (1,)


VALID = click("page/1", 0.5, 0.5)
BAD_BODIES: list[tuple[str, Any, str]] = [
    ("missing page_uuid", {"coordinates": {"x": 0.5, "y": 0.5}}, "page_uuid"),
    ("missing coordinates", {"page_uuid": "page/1"}, "coordinates"),
    ("missing y", {"page_uuid": "page/1", "coordinates": {"x": 0.5}}, "y"),
    ("null x", {**VALID, "coordinates": {"x": None, "y": 0.5}}, "x"),
    ("x as a string", {**VALID, "coordinates": {"x": "0.5", "y": 0.5}}, "x"),
    ("y as a boolean", {**VALID, "coordinates": {"x": 0.5, "y": True}}, "y"),
    ("x nested", {**VALID, "coordinates": {"x": {"value": 0.5}, "y": 0.5}}, "x"),
    ("x below 0", {**VALID, "coordinates": {"x": -0.001, "y": 0.5}}, "x"),
    ("y above 1", {**VALID, "coordinates": {"x": 0.5, "y": 1.001}}, "y"),
    ("coordinates as a list", {**VALID, "coordinates": [0.5, 0.5]}, "coordinates"),
    ("empty page_uuid", {**VALID, "page_uuid": ""}, "page_uuid"),
    ("page_uuid of 256 characters", {**VALID, "page_uuid": "p" * 256}, "page_uuid"),
    ("page_uuid as a number", {**VALID, "page_uuid": 7}, "page_uuid"),
    ("page_uuid with NUL", {**VALID, "page_uuid": "a\x00b"}, "page_uuid"),
]
BAD_RAW_BODIES: list[tuple[str, str | bytes, str]] = [
    ("NaN", '{"page_uuid": "page/1", "coordinates": {"x": NaN, "y": 0.5}}', "x"),
    ("Infinity", '{"page_uuid": "page/1", "coordinates": {"x": 0.5, "y": Infinity}}', "y"),
    ("-Infinity", '{"page_uuid": "page/1", "coordinates": {"x": -Infinity, "y": 0.5}}', "x"),
    ("not JSON", "page_uuid=page/1&x=0.5", "body"),
    ("truncated JSON", '{"page_uuid": "page/1", "coordinates": {"x": 0.5', "body"),
    ("a JSON list", "[0.5, 0.5]", "body"),
    ("not UTF-8", b'{"page_uuid": "\xff\xfe", "coordinates": {"x": 0.5, "y": 0.5}}', "body"),
    # Python's JSON parser gives up on these: too deep, and past its 4,300-digit limit.
    ("nested 10,000 deep", '{"page_uuid": ' + "[" * 10_000 + "]" * 10_000 + "}", "body"),
    (
        "an integer of 5,000 digits",
        '{"page_uuid": "p", "coordinates": {"x": ' + "1" * 5_000 + "}}",
        "body",
    ),
]


@pytest.mark.parametrize("route", CLICK_ROUTES)
@pytest.mark.parametrize(
    ("raw", "field"),
    [(json.dumps(body), field) for _, body, field in BAD_BODIES]
    + [(raw, field) for _, raw, field in BAD_RAW_BODIES],
    ids=[name for name, _, _ in BAD_BODIES + BAD_RAW_BODIES],
)
async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, conn: Connection, route: str, raw: str | bytes, field: str
) -> None:
    before = await snapshot(conn)
    response = await client.post(route, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert field in [str(part) for error in response.json()["detail"] for part in error["loc"]]
    assert await snapshot(conn) == before


@pytest.mark.parametrize(("x", "y"), [(0, 0), (1, 1), (0.0, 1.0)])
async def test_bounds_are_included(client: httpx.AsyncClient, x: float, y: float) -> None:
    page = random_prefix()
    response = await client.post("/save_click_and_predict_cluster", json=click(page, x, y))
    assert response.json() == {"cluster_idx": 0, "is_new": True}


async def test_concurrent_saves_on_one_page_get_each_idx_once(
    client: httpx.AsyncClient, conn: Connection
) -> None:
    page = random_prefix()
    grid = [(0.05 + 0.1 * i, 0.05 + 0.1 * j) for i in range(8) for j in range(8)]
    responses = await asyncio.gather(
        *(client.post("/save_click_and_predict_cluster", json=click(page, x, y)) for x, y in grid)
    )
    bodies = [response.json() for response in responses]
    assert all(body["is_new"] is True for body in bodies)
    assert sorted(body["cluster_idx"] for body in bodies) == list(range(len(grid)))
    cursor = await conn.execute("SELECT count(*) FROM clicks WHERE page_uuid = %s", (page,))
    assert await cursor.fetchone() == (len(grid),)
    await assert_clusters_match_clicks(conn)
