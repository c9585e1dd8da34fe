"""The migrations carry existing data over."""

import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from app.clustering import replay
from app.schema import migrate
from harness.servers import ROOT
from tests.db_checks import assert_clusters_match_clicks
from tests.helpers import random_prefix

SAVE = "SELECT cluster_idx, is_new FROM save_click(%s, %s, %s, 0.04)"


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    name = f"clickclust_test_{random_prefix()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


async def test_clicks_saved_before_0003_are_numbered_per_page_in_their_order(
    empty_database: str,
) -> None:
    url = empty_database
    pages = {"a": [(0.1 * n, 0.5) for n in range(1, 9)], "b": [(0.5, 0.03 * n) for n in range(8)]}
    migrate(url, "0002")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for number in range(8):  # interleaved, so that the global click_id skips on a page
            for page, points in pages.items():
                await conn.execute(SAVE, (page, *points[number]))
        migrate(url)
        for page, points in pages.items():
            await conn.execute(SAVE, (page, 0.99, 0.99))
            cursor = await conn.execute(
                "SELECT seq, x, y, cluster_idx FROM clicks WHERE page_uuid = %s ORDER BY seq",
                (page,),
            )
            rows = await cursor.fetchall()
            saved = [*points, (0.99, 0.99)]
            assert [(seq, x, y) for seq, x, y, _ in rows] == [
                (seq, x, y) for seq, (x, y) in enumerate(saved, 1)
            ]
            assert [idx for *_, idx in rows] == replay(saved, 0.04)
        await assert_clusters_match_clicks(conn)


def test_0004_downgrades_to_0003_and_upgrades_again(empty_database: str) -> None:
    url = empty_database
    migrate(url)
    keyed_save = "SELECT * FROM save_click('p', 0.5, 0.5, 0.04, 'key')"
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(keyed_save).fetchall() == [(0, True, False)]
        subprocess.run(
            [sys.executable, "-m", "alembic", "downgrade", "0003"],
            cwd=ROOT,
            env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )
        assert conn.execute(SAVE, ("p", 0.5, 0.5)).fetchall() == [(0, False)]
        assert conn.execute("SELECT to_regclass('idempotency_keys')").fetchone() == (None,)
        migrate(url)
        assert conn.execute(keyed_save).fetchall() == [(0, False, False)]
        assert conn.execute(keyed_save).fetchall() == [(0, False, True)]
