"""/docs and /redoc work offline: the app serves every script, style and icon they load."""

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.servers import running_server
from tests.helpers import NEEDS_CHROMIUM, headless_chromium

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


@NEEDS_CHROMIUM
def test_docs_render_in_chromium_with_no_other_host_reachable(
    database_url: str, tmp_path: Path
) -> None:
    # Every host name resolves to nothing: a page that needed a CDN would stay blank.
    offline = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    browser = [*headless_chromium(tmp_path / "profile"), offline, "--virtual-time-budget=10000"]
    with running_server(database_url, workers=1) as server:
        for page in ["/docs", "/redoc"]:
            dom = subprocess.run(
                [*browser, "--dump-dom", server.url + page],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
            # The paths come from /openapi.json: on the page only once the UI has run.
            assert "/clicks.csv" in dom, page
