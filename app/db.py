"""Every SQL statement of the request path, and the transactions around them."""

import numpy as np
from psycopg import AsyncConnection
from psycopg.errors import UndefinedTable
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from app.clustering import Assignment, FloatArray, assign, centroids, nearest_cluster

Connection = AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Connection]

ENSURE_PAGE = "INSERT INTO pages (page_uuid) VALUES (%s) ON CONFLICT (page_uuid) DO NOTHING"
# Saves on one page are serialized by this row lock. It is a statement of its own, before the
# read of the clusters: in READ COMMITTED the next statement then takes a fresh snapshot that
# sees everything the previous lock holder committed.
LOCK_PAGE = "SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE"
SELECT_CLUSTERS = (
    "SELECT sum_x, sum_y, size FROM clusters WHERE page_uuid = %s ORDER BY cluster_idx"
)
OPEN_CLUSTER = (
    "INSERT INTO clusters (page_uuid, cluster_idx, size, sum_x, sum_y) VALUES (%s, %s, 1, %s, %s)"
)
GROW_CLUSTER = (
    "UPDATE clusters SET size = size + 1, sum_x = sum_x + %s, sum_y = sum_y + %s"
    " WHERE page_uuid = %s AND cluster_idx = %s"
)
INSERT_CLICK = "INSERT INTO clicks (page_uuid, x, y, cluster_idx) VALUES (%s, %s, %s, %s)"
SCHEMA_REVISION = "SELECT version_num FROM alembic_version"


async def _page_centroids(conn: Connection, page_uuid: str) -> FloatArray:
    cursor = await conn.execute(SELECT_CLUSTERS, (page_uuid,))
    summaries = np.array(await cursor.fetchall(), dtype=np.float64).reshape(-1, 3)
    return centroids(summaries[:, :2], summaries[:, 2])


async def predict_cluster(
    pool: Pool, page_uuid: str, x: float, y: float, radius: float
) -> int | None:
    async with pool.connection() as conn:
        return nearest_cluster(await _page_centroids(conn, page_uuid), (x, y), radius)


async def save_click(pool: Pool, page_uuid: str, x: float, y: float, radius: float) -> Assignment:
    """Store a click and its cluster in one transaction, in two round trips (pipeline mode)."""
    async with pool.connection() as conn, conn.pipeline(), conn.transaction():
        await conn.execute(ENSURE_PAGE, (page_uuid,))
        await conn.execute(LOCK_PAGE, (page_uuid,))
        assignment = assign(await _page_centroids(conn, page_uuid), (x, y), radius)
        if assignment.is_new:
            await conn.execute(OPEN_CLUSTER, (page_uuid, assignment.cluster_idx, x, y))
        else:
            await conn.execute(GROW_CLUSTER, (x, y, page_uuid, assignment.cluster_idx))
        await conn.execute(INSERT_CLICK, (page_uuid, x, y, assignment.cluster_idx))
    return assignment


async def schema_revision(pool: Pool, wait_seconds: float) -> str | None:
    """The alembic revision the database is at; None before the first migration."""
    async with pool.connection(timeout=wait_seconds) as conn:
        try:
            cursor = await conn.execute(SCHEMA_REVISION)
        except UndefinedTable:
            return None
        row = await cursor.fetchone()
    return None if row is None else str(row[0])
