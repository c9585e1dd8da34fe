"""Every SQL statement the app sends, each beside the function that sends it, and the
transactions around them. Rows come back as the named tuples below."""

from datetime import datetime
from typing import NamedTuple

import numpy as np
from psycopg.errors import UndefinedTable
from psycopg.rows import class_row

from app.clustering import Assignment, centroids, nearest_cluster
from app.pool import Connection, Pool


class Point(NamedTuple):
    x: float
    y: float


class Click(NamedTuple):
    x: float
    y: float
    cluster_idx: int


class ClusterStats(NamedTuple):
    cluster_idx: int
    size: int
    cx: float
    cy: float
    radius: float  # the largest distance of a member click from the centroid


# The request path: one statement each.

# A save is this one statement, its own transaction: see migrations/versions/0003_click_seq.py.
SAVE_CLICK = "SELECT cluster_idx, is_new FROM save_click(%s, %s, %s, %s)"


async def save_click(pool: Pool, page_uuid: str, x: float, y: float, radius: float) -> Assignment:
    """Store a click and its cluster: one statement, one transaction, one round trip."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(Assignment))
        await cursor.execute(SAVE_CLICK, (page_uuid, x, y, radius))
        [assignment] = await cursor.fetchall()
    return assignment


SELECT_CLUSTERS = (
    "SELECT sum_x, sum_y, size FROM clusters WHERE page_uuid = %s ORDER BY cluster_idx"
)


async def predict_cluster(
    pool: Pool, page_uuid: str, x: float, y: float, radius: float
) -> int | None:
    async with pool.connection() as conn:
        cursor = await conn.execute(SELECT_CLUSTERS, (page_uuid,))
        summaries = np.array(await cursor.fetchall(), dtype=np.float64).reshape(-1, 3)
    return nearest_cluster(centroids(summaries[:, :2], summaries[:, 2]), (x, y), radius)


SCHEMA_REVISION = "SELECT version_num FROM alembic_version"


async def schema_revision(pool: Pool, wait_seconds: float) -> str | None:
    """The alembic revision the database is at; None before the first migration. Waits for a
    connection, then for the answer, at most `wait_seconds` each."""
    async with pool.connection(timeout=wait_seconds, use_seconds=wait_seconds) as conn:
        try:
            cursor = await conn.execute(SCHEMA_REVISION)
        except UndefinedTable:
            return None
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


# The read side: these scan a page's clicks, so they are for analysts, not the request path.

CLUSTER_SUMMARIES = """
    WITH members AS (
        SELECT cluster_idx, x, y FROM clicks
        WHERE page_uuid = %(page_uuid)s
          AND created_at >= coalesce(%(since)s::timestamptz, '-infinity')
          AND created_at < coalesce(%(until)s::timestamptz, 'infinity')
    ), centroids AS (
        SELECT cluster_idx, count(*) AS size, avg(x) AS cx, avg(y) AS cy
        FROM members GROUP BY cluster_idx
    )
    SELECT cluster_idx, size, cx, cy, max(point(x, y) <-> point(cx, cy)) AS radius
    FROM centroids JOIN members USING (cluster_idx)
    GROUP BY cluster_idx, size, cx, cy
    ORDER BY cluster_idx
"""


async def cluster_summaries(
    pool: Pool, page_uuid: str, since: datetime | None = None, until: datetime | None = None
) -> list[ClusterStats]:
    """Each cluster's size, centroid and radius, over the clicks in [since, until)."""
    params = {"page_uuid": page_uuid, "since": since, "until": until}
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(ClusterStats))
        await cursor.execute(CLUSTER_SUMMARIES, params)
        return await cursor.fetchall()


BIGGEST_CLUSTER = (
    "SELECT cluster_idx FROM clusters WHERE page_uuid = %s ORDER BY size DESC, cluster_idx LIMIT 1"
)
CLUSTER_CLICKS = (
    "SELECT x, y FROM clicks WHERE page_uuid = %s AND cluster_idx = %s ORDER BY seq LIMIT %s"
)


async def biggest_cluster(pool: Pool, page_uuid: str, limit: int) -> tuple[int, list[Point]] | None:
    """The cluster with the most clicks (ties: lower idx) and up to `limit` of its clicks."""
    async with pool.connection() as conn:
        cursor = await conn.execute(BIGGEST_CLUSTER, (page_uuid,))
        row = await cursor.fetchone()
        if row is None:
            return None
        [cluster_idx] = row
        points = conn.cursor(row_factory=class_row(Point))
        await points.execute(CLUSTER_CLICKS, (page_uuid, cluster_idx, limit))
        return cluster_idx, await points.fetchall()


# Every `step`-th click of the page: a sample without sorting the page's clicks.
SAMPLE_CLICKS = (
    "SELECT x, y, cluster_idx FROM clicks WHERE page_uuid = %s AND seq %% %s = 0 LIMIT %s"
)


async def sample_clicks(pool: Pool, page_uuid: str, total: int, limit: int) -> list[Click]:
    """About `limit` of a page's `total` clicks."""
    step = max(1, -(-total // limit))
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(Click))
        await cursor.execute(SAMPLE_CLICKS, (page_uuid, step, limit))
        return await cursor.fetchall()


# Checks and repairs (python -m app.rebuild, and the tests), on a connection of their own.

# Stored summaries that differ from what the clicks imply.
SUMMARY_MISMATCHES = """
    WITH implied AS (
        SELECT page_uuid, cluster_idx, count(*) AS size, sum(x) AS sum_x, sum(y) AS sum_y
        FROM clicks WHERE %(pages)s::text[] IS NULL OR page_uuid = ANY(%(pages)s)
        GROUP BY page_uuid, cluster_idx
    ), stored AS (
        SELECT * FROM clusters WHERE %(pages)s::text[] IS NULL OR page_uuid = ANY(%(pages)s)
    )
    SELECT DISTINCT page_uuid
    FROM implied FULL JOIN stored USING (page_uuid, cluster_idx)
    WHERE implied.size IS DISTINCT FROM stored.size
       OR NOT abs(implied.sum_x - stored.sum_x) < 1e-9
       OR NOT abs(implied.sum_y - stored.sum_y) < 1e-9
    ORDER BY page_uuid
"""


async def pages_with_wrong_summaries(conn: Connection, pages: list[str] | None) -> list[str]:
    cursor = await conn.execute(SUMMARY_MISMATCHES, {"pages": pages})
    return [page for (page,) in await cursor.fetchall()]


# Saves on one page are serialized by this row lock (save_click takes it too).
LOCK_PAGE = "SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE"
DELETE_CLUSTERS = "DELETE FROM clusters WHERE page_uuid = %s"
RECOMPUTE_CLUSTERS = """
    INSERT INTO clusters (page_uuid, cluster_idx, size, sum_x, sum_y)
    SELECT page_uuid, cluster_idx, count(*), sum(x), sum(y) FROM clicks
    WHERE page_uuid = %s GROUP BY page_uuid, cluster_idx
"""


async def rebuild_summaries(conn: Connection, page_uuid: str) -> None:
    """Recompute a page's clusters from its clicks, holding the page lock as saves do."""
    async with conn.transaction():
        await conn.execute(LOCK_PAGE, (page_uuid,))
        await conn.execute(DELETE_CLUSTERS, (page_uuid,))
        await conn.execute(RECOMPUTE_CLUSTERS, (page_uuid,))


ALL_PAGES = "SELECT page_uuid FROM pages ORDER BY page_uuid"


async def all_pages(conn: Connection) -> list[str]:
    cursor = await conn.execute(ALL_PAGES)
    return [page for (page,) in await cursor.fetchall()]


CLICKS_IN_ORDER = "SELECT x, y, cluster_idx FROM clicks WHERE page_uuid = %s ORDER BY seq"


async def clicks_in_order(conn: Connection, page_uuid: str) -> list[Click]:
    cursor = conn.cursor(row_factory=class_row(Click))
    await cursor.execute(CLICKS_IN_ORDER, (page_uuid,))
    return await cursor.fetchall()
