"""The rebuild command: it repairs stored summaries and finds wrong cluster ids."""

import pytest

from app.pool import Connection
from harness.servers import command
from tests.db_checks import assert_clusters_match_clicks

CORRUPTIONS = [
    "UPDATE clusters SET size = size + 5, sum_x = 0 WHERE page_uuid = %s AND cluster_idx = 0",
    "UPDATE cluster_rollups SET sum_yy = sum_yy + 0.5 WHERE page_uuid = %s AND cluster_idx = 1",
    "DELETE FROM cluster_rollups WHERE page_uuid = %s AND cluster_idx = 2",
    "UPDATE cluster_rollups SET day = day - 1 WHERE page_uuid = %s",
    "UPDATE page_totals SET clusters = 2 WHERE page_uuid = %s",
    "UPDATE page_totals SET last_click_at = last_click_at - interval '1 day' WHERE page_uuid = %s",
]


@pytest.mark.parametrize("corruption", CORRUPTIONS)
async def test_rebuild_repairs_corrupted_summaries(
    conn: Connection, database_url: str, page: str, corruption: str
) -> None:
    await conn.execute(corruption, (page,))
    result = command("rebuild", database_url, page)
    assert result.returncode == 1
    assert f"{page}: stored cluster summaries differed" in result.stdout
    await assert_clusters_match_clicks(conn)
    assert command("rebuild", database_url, page, "--replay").returncode == 0


async def test_rebuild_replay_finds_wrong_cluster_ids(
    conn: Connection, database_url: str, page: str
) -> None:
    await conn.execute(
        "UPDATE clicks SET cluster_idx = 1 WHERE page_uuid = %s AND x = 0.22", (page,)
    )
    result = command("rebuild", database_url, "--replay", page)
    assert result.returncode == 1
    assert f"{page}: replaying its clicks does not reproduce" in result.stdout
