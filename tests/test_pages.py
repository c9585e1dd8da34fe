"""The list of pages: totals kept by saves, two orders, prefix filter, cursor pagination."""

import base64
import json
import re
from html import escape as html_escape
from html import unescape
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.helpers import random_prefix, save_all

# Saved in this order; clicks per page: e 5, a 3, c 2, d 2, b 1; clusters: a 2, the others 1.
SAVES = [("a", 0.1), ("b", 0.1), ("a", 0.1), ("c", 0.1), ("d", 0.1), ("e", 0.1), ("a", 0.9)]
SAVES += [("e", 0.1)] * 4 + [("c", 0.1), ("d", 0.1)]


@pytest.fixture
async def prefix(client: httpx.AsyncClient) -> str:
    prefix = random_prefix() + "%_/"  # LIKE's wildcards, taken literally
    for page, x in SAVES:
        await save_all(client, prefix + page, [(x, 0.5)])
    return prefix


async def all_pages(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of the listing, following next_cursor, two at a time."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/pages", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"pages", "next_cursor"}
        found += body["pages"]
        if (cursor := body["next_cursor"]) is None:
            return found


async def test_pages_by_clicks_then_page_uuid(client: httpx.AsyncClient, prefix: str) -> None:
    pages = await all_pages(client, prefix=prefix)
    assert [(p["page_uuid"], p["clicks"], p["clusters"]) for p in pages] == [
        (prefix + "e", 5, 1),
        (prefix + "a", 3, 2),
        (prefix + "c", 2, 1),
        (prefix + "d", 2, 1),
        (prefix + "b", 1, 1),
    ]
    assert set(pages[0]) == {"page_uuid", "clicks", "clusters", "last_click_at"}


async def test_pages_by_latest_click(client: httpx.AsyncClient, prefix: str) -> None:
    pages = await all_pages(client, prefix=prefix, sort="recent")
    assert [p["page_uuid"].removeprefix(prefix) for p in pages] == ["d", "c", "e", "a", "b"]
    times = [p["last_click_at"] for p in pages]
    assert times == sorted(times, reverse=True)


async def test_saves_keep_the_totals(client: httpx.AsyncClient, prefix: str) -> None:
    await save_all(client, prefix + "b", [(0.5, 0.9), (0.5, 0.9)])
    pages = await all_pages(client, prefix=prefix + "b")
    assert [(p["clicks"], p["clusters"]) for p in pages] == [(3, 2)]
    recent = await all_pages(client, prefix=prefix, sort="recent")
    assert recent[0]["page_uuid"] == prefix + "b"


async def test_a_prefix_with_no_pages_lists_none(client: httpx.AsyncClient) -> None:
    response = await client.get("/pages", params={"prefix": random_prefix()})
    assert response.json() == {"pages": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"sort": "size"}, "sort"),
        ({"page": 2}, "page"),
    ],
)
async def test_bad_listing_requests_are_422(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/pages", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field


def forged(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()


@pytest.mark.parametrize(
    "params",
    [
        {"prefix": "\x00"},
        {"sort": "recent", "cursor": forged({"sort": "recent", "key": 5, "page_uuid": "a"})},
        {"cursor": forged({"sort": "clicks", "key": "2026-01-01T00:00:00Z", "page_uuid": "a"})},
        {"cursor": forged({"sort": "clicks", "key": 5, "page_uuid": "a\x00"})},
    ],
)
async def test_forged_cursors_and_nul_are_422_not_500(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/pages", params=params)
    assert response.status_code == 422, response.text


async def test_a_cursor_is_for_its_own_sort(client: httpx.AsyncClient, prefix: str) -> None:
    first = await client.get("/pages", params={"prefix": prefix, "limit": 1})
    cursor = first.json()["next_cursor"]
    response = await client.get("/pages", params={"cursor": cursor, "sort": "recent"})
    assert response.status_code == 422
    assert "sort" in response.json()["detail"][0]["msg"]


def links(html: str) -> list[str]:
    return re.findall(r'<a href="(/heatmap\?[^"]*)">', html)


async def test_the_index_lists_the_pages_each_linking_to_its_heatmap(
    client: httpx.AsyncClient, prefix: str
) -> None:
    response = await client.get("/pages.html", params={"prefix": prefix})
    html = response.text
    rows = re.findall(r"<tr><td>.*?</tr>", html)
    assert (response.headers["content-type"], len(rows)) == ("text/html; charset=utf-8", 5)
    assert "<td>5</td><td>1</td>" in rows[0]
    assert "<td>3</td><td>2</td>" in rows[1]
    expected = [urlencode({"page_uuid": prefix + page}) for page in "eacdb"]
    assert links(html) == [f"/heatmap?{query}" for query in expected]
    assert '<form method="get" action="/pages.html">' in html
    assert f'name="prefix" value="{html_escape(prefix)}"' in html
    assert '<option value="clicks" selected>' in html
    assert 'rel="next"' not in html


async def test_the_index_pages_on_with_next_links(client: httpx.AsyncClient, prefix: str) -> None:
    url: str | None = "/pages.html?" + urlencode({"prefix": prefix, "sort": "recent", "limit": 2})
    shown: list[str] = []
    while url is not None:
        html = (await client.get(url)).text
        assert '<option value="recent" selected>' in html
        shown += links(html)
        following = re.findall(r'rel="next" href="([^"]*)"', html)
        url = unescape(following[0]) if following else None
    expected = [urlencode({"page_uuid": prefix + page}) for page in "dceab"]
    assert shown == [f"/heatmap?{query}" for query in expected]


async def test_the_index_escapes_page_ids(client: httpx.AsyncClient) -> None:
    prefix = random_prefix()
    page = prefix + '"><script>alert(1)</script>'
    await save_all(client, page, [(0.5, 0.5)])
    html = (await client.get("/pages.html", params={"prefix": prefix + '"><script>'})).text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</a>" in html
    assert links(html) == ["/heatmap?" + urlencode({"page_uuid": page})]


async def test_the_index_validates_as_the_listing_does(client: httpx.AsyncClient) -> None:
    response = await client.get("/pages.html", params={"limit": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]
