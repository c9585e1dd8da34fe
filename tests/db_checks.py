"""Assertions on what the database holds, shared by the tests."""

import asyncio

from psycopg import AsyncConnection

Connection = AsyncConnection[tuple[object, ...]]

TABLES = ("pages", "clusters", "clicks")

# Rows where the stored cluster summaries differ from what the clicks imply.
SUMMARY_MISMATCHES = """
    WITH implied AS (
        SELECT page_uuid, cluster_idx, count(*) AS size, sum(x) AS sum_x, sum(y) AS sum_y
        FROM clicks GROUP BY page_uuid, cluster_idx
    )
    SELECT page_uuid, cluster_idx, implied.size, clusters.size
    FROM implied FULL JOIN clusters USING (page_uuid, cluster_idx)
    WHERE implied.size IS DISTINCT FROM clusters.size
       OR NOT abs(implied.sum_x - clusters.sum_x) < 1e-9
       OR NOT abs(implied.sum_y - clusters.sum_y) < 1e-9
"""


async def snapshot(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order."""
    tables = {}
    for table in TABLES:
        cursor = await conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
        tables[table] = await cursor.fetchall()
    return tables


async def assert_clusters_match_clicks(conn: Connection) -> None:
    cursor = await conn.execute(SUMMARY_MISMATCHES)
    assert await cursor.fetchall() == []


async def wait_for_lock_waiters(conn: Connection, count: int) -> None:
    """Until `count` saves are blocked on a page lock (polls pg_stat_activity)."""
    async with asyncio.timeout(20):
        while True:
            cursor = await conn.execute(
                "SELECT count(*) >= %s FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT 1 FROM pages%%'",
                (count,),
            )
            if await cursor.fetchone() == (True,):
                return
            await asyncio.sleep(0.02)
