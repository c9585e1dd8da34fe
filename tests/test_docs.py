"""/docs and /redoc work offline: the app serves every script, style and icon they load."""

import re
from pathlib import Path

import httpx
import pytest

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_load_only_what_the_app_serves(client: httpx.AsyncClient, page: str) -> None:
    html = (await client.get(page)).text
    assert "://" not in html
    urls = re.findall(r"""(?:src|href|spec-url)="([^"]*)"|url: '([^']*)'""", html)
    assets = [url for pair in urls for url in pair if url]
    assert any(url.endswith(".js") for url in assets)
    for url in assets:
        assert url.startswith("/"), url  # a path of this origin: "://" is nowhere
        response = await client.get(url)
        assert response.status_code == 200, url
        content_type = response.headers["content-type"].split(";")[0]
        assert content_type == CONTENT_TYPES[Path(url).suffix], url
