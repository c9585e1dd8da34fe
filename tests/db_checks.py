"""Assertions on what the database holds, shared by the tests."""

import asyncio

from app import db
from app.pool import Connection

TABLES = ("pages", "clusters", "clicks", "idempotency_keys", "cluster_rollups", "page_totals")


async def snapshot(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, sorted."""
    tables = {}
    for table in TABLES:
        cursor = await conn.execute(f"SELECT * FROM {table}")
        tables[table] = sorted(await cursor.fetchall())
    return tables


async def assert_clusters_match_clicks(conn: Connection) -> None:
    assert await db.pages_with_wrong_summaries(conn, pages=None) == []


async def wait_for_backends(conn: Connection, count: int, condition: str) -> None:
    """Until `count` backends match `condition` (polls pg_stat_activity)."""
    async with asyncio.timeout(20):
        while True:
            cursor = await conn.execute(
                f"SELECT count(*) >= %s FROM pg_stat_activity WHERE {condition}", (count,)
            )
            if await cursor.fetchone() == (True,):
                return
            await asyncio.sleep(0.02)


async def wait_for_lock_waiters(conn: Connection, count: int) -> None:
    """Until `count` saves are blocked on a page lock."""
    condition = "wait_event_type = 'Lock' AND query LIKE '%%FROM save_click(%%'"
    await wait_for_backends(conn, count, condition)
