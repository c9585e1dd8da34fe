"""What many tests use: pages of their own, the click routes and a click's body, the outcome
of a request of a test's traffic, an HTTP client of an app built with given settings, a
metric's value in a scrape, and the lines a server logged as JSON."""

import json
import secrets
import string
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import make_conninfo

from app.main import create_app
from app.schema import migrate
from app.settings import Settings

SAVE = "/save_click_and_predict_cluster"
PREDICT = "/predict_cluster"
# Every click route, the older names that existing clients call included.
CLICK_ROUTES = [SAVE, PREDICT, "/new_click", "/predict_click"]
# Every route that reads a page given as the query parameter `page_uuid`.
PAGE_READS = [
    "/clusters",
    "/get_best_cluster",
    "/get_best_cluster_api",
    "/heatmap",
    "/heatmap.svg",
    "/clicks.csv",
]
# The best cluster by the brief's name and by POST with a JSON body, beside GET /get_best_cluster.
BEST_CLUSTER_NEW_WAYS = [
    ("GET", "/get_best_cluster_api"),
    ("POST", "/get_best_cluster"),
    ("POST", "/get_best_cluster_api"),
]


def random_prefix() -> str:
    """A fresh page id (or prefix of one): tests isolate themselves by page."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))


async def in_chunks(text: str, size: int = 8192) -> AsyncIterator[bytes]:
    """`text` as a streamed body: no Content-Length, so only its length as read tells."""
    for start in range(0, len(text), size):
        yield text[start : start + size].encode()


def click(page_uuid: str, x: float = 0.5, y: float = 0.5) -> dict[str, Any]:
    return {"page_uuid": page_uuid, "coordinates": {"x": x, "y": y}}


# Three clusters: 0 gets three clicks, 1 gets one, 2 gets two.
CLICKS = [(0.2, 0.2), (0.22, 0.2), (0.7, 0.7), (0.2, 0.23), (0.5, 0.9), (0.51, 0.9)]


@dataclass
class Outcome:
    """A request of a test's traffic: what it sent, when, and what came back."""

    route: str
    page_uuid: str
    x: float
    y: float
    started: float
    finished: float
    status: int
    body: object

    def overlaps(self, start: float, end: float) -> bool:
        return self.started < end and self.finished > start


async def save_all(client: httpx.AsyncClient, page: str, clicks: list[tuple[float, float]]) -> None:
    for x, y in clicks:
        response = await client.post(SAVE, json=click(page, x, y))
        assert response.status_code == 200


async def ask(client: httpx.AsyncClient, method: str, route: str, **query: Any) -> httpx.Response:
    """A read with `query` as query parameters (GET) or as a JSON body (POST)."""
    if method == "GET":
        return await client.get(route, params=query)
    return await client.post(route, json=query)


@contextmanager
def migrated_database(server_url: str) -> Iterator[str]:
    """A new database on the server, migrated to head; dropped at the end."""
    name = f"clickclust_test_{random_prefix()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = make_conninfo(server_url, dbname=name)
    migrate(url)
    try:
        yield url
    finally:
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


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` with these labels in a /metrics scrape."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def json_lines(log: Path) -> list[dict[str, Any]]:
    """What a server printed with LOG_FORMAT=json: every line one JSON object."""
    return [json.loads(line) for line in log.read_text().splitlines()]
