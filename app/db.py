"""Every SQL statement the app sends, each beside the function that sends it, and the
transactions around them. Rows come back as the named tuples below."""

import asyncio
import math
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, time
from typing import NamedTuple

from psycopg import DatabaseError, sql
from psycopg.errors import UndefinedTable
from psycopg.rows import class_row

from app.data_models import NewClickRequest, PagesCursor, PagesSort, PageSummary
from app.pool import Connection, Pool, cut_off_at


class Click(NamedTuple):
    x: float
    y: float
    cluster_idx: int


class DailyClicks(NamedTuple):
    cluster_idx: int
    day: date  # UTC
    clicks: int


class ClusterStats(NamedTuple):
    cluster_idx: int
    size: int
    cx: float
    cy: float
    radius: float  # the root mean square distance of the member clicks from the centroid


# The request path: one statement each.


def click_params(click: NewClickRequest, radius: float) -> dict[str, object]:
    """A click's parameters, as SAVE_CLICK and PREDICT_CLUSTER name them."""
    point = click.coordinates
    return {"page_uuid": click.page_uuid, "x": point.x, "y": point.y, "radius": radius}


class Saved(NamedTuple):
    cluster_idx: int
    is_new: bool
    replayed: bool  # an earlier save with the same key answered this; nothing new was stored


class KeyReusedError(Exception):
    """The idempotency key was used on the page for another click."""


# What save_click() raises for KeyReusedError (migrations/versions/0004_idempotency_keys.py).
KEY_REUSED = "CK001"
# A save is this one statement, its own transaction: see migrations/versions/0004_*.py.
SAVE_CLICK = """
    SELECT cluster_idx, is_new, replayed
    FROM save_click(%(page_uuid)s, %(x)s, %(y)s, %(radius)s, %(key)s)
"""


async def save_click(pool: Pool, click: NewClickRequest, radius: float, key: str | None) -> Saved:
    """Store a click and its cluster, unless `key` was seen on the page before: one statement,
    one transaction, one round trip."""
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(Saved))
        try:
            await cursor.execute(SAVE_CLICK, {**click_params(click, radius), "key": key})
        except DatabaseError as error:
            if error.sqlstate == KEY_REUSED:
                raise KeyReusedError(error.diag.message_primary) from error
            raise
        [saved] = await cursor.fetchall()
    return saved


# The rule of app.clustering.nearest_cluster, in SQL as in save_click(): one row back, or none.
PREDICT_CLUSTER = """
    SELECT cluster_idx FROM (
        SELECT cluster_idx,
            sqrt(ieee_square(ieee_mean(sum_x, size) - %(x)s)
                + ieee_square(ieee_mean(sum_y, size) - %(y)s)) AS distance
        FROM clusters WHERE page_uuid = %(page_uuid)s
        ORDER BY 2, 1
        LIMIT 1
    ) AS nearest
    WHERE distance <= %(radius)s
"""


async def predict_cluster(pool: Pool, click: NewClickRequest, radius: float) -> int | None:
    """The cluster the click would join, or None if it would open one."""
    async with pool.connection() as conn:
        cursor = await conn.execute(PREDICT_CLUSTER, click_params(click, radius))
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


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


# The read side, for analysts: from the rollups, so a read costs O(clusters x days).

# The rollups of the UTC days that overlap [since, until), each counted whole.
ROLLUPS_IN_WINDOW = """
    SELECT * FROM cluster_rollups
    WHERE page_uuid = %(page_uuid)s
      AND day >= (coalesce(%(since)s::timestamptz, '-infinity') AT TIME ZONE 'UTC')::date
      AND day <= ((coalesce(%(until)s::timestamptz, 'infinity') - interval '1 microsecond')
                  AT TIME ZONE 'UTC')::date
"""
CLUSTER_SUMMARIES = f"""
    WITH sums AS (
        SELECT cluster_idx, sum(clicks)::bigint AS size, sum(sum_x) AS sum_x, sum(sum_y) AS sum_y,
            sum(sum_xx) + sum(sum_yy) AS sum_squares
        FROM ({ROLLUPS_IN_WINDOW}) AS rollups
        GROUP BY cluster_idx
    ), means AS (
        SELECT cluster_idx, size, ieee_mean(sum_x, size) AS cx, ieee_mean(sum_y, size) AS cy,
            ieee_mean(sum_squares, size) AS mean_square
        FROM sums
    )
    SELECT cluster_idx, size, cx, cy,
        sqrt(greatest(mean_square - ieee_square(cx) - ieee_square(cy), 0)) AS radius
    FROM means ORDER BY cluster_idx
"""


async def cluster_summaries(
    pool: Pool, page_uuid: str, since: datetime | None = None, until: datetime | None = None
) -> list[ClusterStats]:
    """Each cluster's size, centroid and RMS radius, over the days that overlap [since, until)."""
    params = {"page_uuid": page_uuid, "since": since, "until": until}
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(ClusterStats))
        await cursor.execute(CLUSTER_SUMMARIES, params)
        return await cursor.fetchall()


CLUSTER_TRENDS = f"""
    SELECT cluster_idx, day, clicks FROM ({ROLLUPS_IN_WINDOW}) AS rollups
    ORDER BY cluster_idx, day
"""


async def cluster_trends(pool: Pool, page_uuid: str, first: date, last: date) -> list[DailyClicks]:
    """Each cluster's clicks on each UTC day from `first` to `last` on which it has any."""
    # The window ends a microsecond before the next day, so that no date can overflow.
    params = {
        "page_uuid": page_uuid,
        "since": datetime.combine(first, time.min, UTC),
        "until": datetime.combine(last, time.max, UTC),
    }
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(DailyClicks))
        await cursor.execute(CLUSTER_TRENDS, params)
        return await cursor.fetchall()


# A page of the list of pages, from the totals that saves keep: keyset pagination by `key`
# (most first), then page_uuid.
PAGES = """
    SELECT page_uuid, clicks, clusters, last_click_at FROM page_totals
    WHERE starts_with(page_uuid, %(prefix)s)
      AND (%(after_page)s::text IS NULL OR {key} < %(after_key)s
           OR ({key} = %(after_key)s AND page_uuid > %(after_page)s))
    ORDER BY {key} DESC, page_uuid
    LIMIT %(limit)s
"""
PAGES_BY: dict[str, sql.Composed] = {
    sort: sql.SQL(PAGES).format(key=sql.Identifier(column))
    for sort, column in [("clicks", "clicks"), ("recent", "last_click_at")]
}


async def pages(
    pool: Pool, prefix: str, sort: PagesSort, limit: int, after: PagesCursor | None
) -> list[PageSummary]:
    """Up to `limit` pages whose page_uuid starts with `prefix`, in `sort` order, after `after`."""
    params = {
        "prefix": prefix,
        "limit": limit,
        "after_key": after and after.key,
        "after_page": after and after.page_uuid,
    }
    async with pool.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(PageSummary))
        await cursor.execute(PAGES_BY[sort], params)
        return await cursor.fetchall()


PAGE_EXISTS = "SELECT EXISTS (SELECT FROM pages WHERE page_uuid = %s)"


async def page_exists(pool: Pool, page_uuid: str) -> bool:
    """Whether the page ever had a click saved."""
    async with pool.connection() as conn:
        return await page_exists_on(conn, page_uuid)


async def page_exists_on(conn: Connection, page_uuid: str) -> bool:
    cursor = await conn.execute(PAGE_EXISTS, (page_uuid,))
    return await cursor.fetchone() == (True,)


class PageNotFoundError(Exception):
    """The page never had a click saved."""


# x, y, cluster_idx, and created_at as ISO 8601 in UTC. Plain tuples, and the time formatted by
# PostgreSQL: a row class and datetimes would make an export of a million clicks 3 times slower.
TimedClick = tuple[float, float, int, str]

EXPORT_BATCH_ROWS = 2_000
# By seq, the primary key's order: the rows stream out of the index without a sort.
CLICKS_IN_WINDOW = """
    SELECT x, y, cluster_idx,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    FROM clicks
    WHERE page_uuid = %(page_uuid)s
      AND created_at >= coalesce(%(since)s::timestamptz, '-infinity')
      AND created_at < coalesce(%(until)s::timestamptz, 'infinity')
    ORDER BY seq
"""


async def clicks_in_window(
    pool: Pool, page_uuid: str, since: datetime | None, until: datetime | None
) -> AsyncGenerator[list[TimedClick], None]:
    """The page's clicks saved in [since, until), oldest first, in batches from a server-side
    cursor, so that memory stays flat whatever the page's size. The first batch comes even if
    empty; PageNotFoundError instead for a page that never had a click. Holds a pooled
    connection, in a transaction, until the iteration ends or is closed."""
    params = {"page_uuid": page_uuid, "since": since, "until": until}
    # A download may take any time: each step with the database gets the pool's deadline
    # instead, so the transaction is begun and ended by hand, not by a context manager.
    async with pool.connection(use_seconds=math.inf) as conn:
        try:
            async with step_deadline(pool, conn):
                await conn.execute("BEGIN")
                cursor = conn.cursor("clicks_in_window")
                await cursor.execute(CLICKS_IN_WINDOW, params)
                batch = await cursor.fetchmany(EXPORT_BATCH_ROWS)
                if not batch and not await page_exists_on(conn, page_uuid):
                    raise PageNotFoundError(page_uuid)
            yield batch
            while len(batch) == EXPORT_BATCH_ROWS:
                async with step_deadline(pool, conn):
                    batch = await cursor.fetchmany(EXPORT_BATCH_ROWS)
                if batch:
                    yield batch
        finally:
            if not conn.closed:
                async with step_deadline(pool, conn):
                    await conn.execute("ROLLBACK")


def step_deadline(pool: Pool, conn: Connection) -> AbstractAsyncContextManager[None]:
    """The pool's deadline for one step, counted from now."""
    return cut_off_at(conn, asyncio.get_running_loop().time() + pool.use_seconds)


BIGGEST_CLUSTER = (
    "SELECT cluster_idx, size FROM clusters WHERE page_uuid = %s"
    " ORDER BY size DESC, cluster_idx LIMIT 1"
)
CLUSTER_CLICKS = (
    "SELECT x, y FROM clicks WHERE page_uuid = %s AND cluster_idx = %s ORDER BY seq LIMIT %s"
)


async def biggest_cluster(
    pool: Pool, page_uuid: str, limit: int | None
) -> tuple[int, list[tuple[float, float]]] | None:
    """The cluster with the most clicks (ties: lower idx) and its clicks' (x, y), oldest first:
    all of them, or the first `limit`. None for a page without clicks."""
    async with pool.connection() as conn:
        cursor = await conn.execute(BIGGEST_CLUSTER, (page_uuid,))
        row = await cursor.fetchone()
        if row is None:
            return None
        cluster_idx, size = row
        # The cluster has `size` clicks: capping there keeps any limit within bigint. Plain
        # tuples, as a row class would cost a second per million clicks.
        count = size if limit is None else min(limit, size)
        cursor = await conn.execute(CLUSTER_CLICKS, (page_uuid, cluster_idx, count))
        return cluster_idx, await cursor.fetchall()


# Checks and repairs (python -m app.rebuild, and the tests), on a connection of their own.

# Pages whose stored summaries (clusters, rollups, totals) differ from what their clicks imply.
SUMMARY_MISMATCHES = """
    WITH chosen AS (
        SELECT * FROM clicks WHERE %(pages)s::text[] IS NULL OR page_uuid = ANY(%(pages)s)
    ), clusters_implied AS (
        SELECT page_uuid, cluster_idx, count(*) AS size, sum(x) AS sum_x, sum(y) AS sum_y
        FROM chosen GROUP BY page_uuid, cluster_idx
    ), clusters_stored AS (
        SELECT * FROM clusters WHERE %(pages)s::text[] IS NULL OR page_uuid = ANY(%(pages)s)
    ), rollups_implied AS (
        SELECT page_uuid, (created_at AT TIME ZONE 'UTC')::date AS day, cluster_idx,
            count(*) AS clicks, sum(x) AS sum_x, sum(y) AS sum_y,
            sum(ieee_square(x)) AS sum_xx, sum(ieee_square(y)) AS sum_yy
        FROM chosen GROUP BY 1, 2, 3
    ), rollups_stored AS (
        SELECT * FROM cluster_rollups
        WHERE %(pages)s::text[] IS NULL OR page_uuid = ANY(%(pages)s)
    ), totals_implied AS (
        SELECT page_uuid, max(seq) AS clicks, max(cluster_idx) + 1 AS clusters,
            max(created_at) AS last_click_at
        FROM chosen GROUP BY page_uuid
    ), totals_stored AS (
        SELECT * FROM page_totals WHERE %(pages)s::text[] IS NULL OR page_uuid = ANY(%(pages)s)
    )
    SELECT page_uuid
    FROM clusters_implied AS implied FULL JOIN clusters_stored AS stored
        USING (page_uuid, cluster_idx)
    WHERE implied.size IS DISTINCT FROM stored.size
       OR NOT abs(implied.sum_x - stored.sum_x) < 1e-9
       OR NOT abs(implied.sum_y - stored.sum_y) < 1e-9
    UNION
    SELECT page_uuid
    FROM rollups_implied AS implied FULL JOIN rollups_stored AS stored
        USING (page_uuid, day, cluster_idx)
    WHERE implied.clicks IS DISTINCT FROM stored.clicks
       OR NOT abs(implied.sum_x - stored.sum_x) < 1e-9
       OR NOT abs(implied.sum_y - stored.sum_y) < 1e-9
       OR NOT abs(implied.sum_xx - stored.sum_xx) < 1e-9
       OR NOT abs(implied.sum_yy - stored.sum_yy) < 1e-9
    UNION
    SELECT page_uuid
    FROM totals_implied AS implied FULL JOIN totals_stored AS stored USING (page_uuid)
    WHERE (implied.clicks, implied.clusters, implied.last_click_at)
        IS DISTINCT FROM (stored.clicks, stored.clusters, stored.last_click_at)
    ORDER BY page_uuid
"""


async def pages_with_wrong_summaries(conn: Connection, pages: list[str] | None) -> list[str]:
    cursor = await conn.execute(SUMMARY_MISMATCHES, {"pages": pages})
    return [page for (page,) in await cursor.fetchall()]


# Saves on one page are serialized by this row lock (save_click takes it too).
LOCK_PAGE = "SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE"
# What the page's clicks imply, in place of what was stored.
RECOMPUTE_SUMMARIES = [
    "DELETE FROM clusters WHERE page_uuid = %(page)s",
    """
    INSERT INTO clusters (page_uuid, cluster_idx, size, sum_x, sum_y)
    SELECT page_uuid, cluster_idx, count(*), sum(x), sum(y) FROM clicks
    WHERE page_uuid = %(page)s GROUP BY page_uuid, cluster_idx
    """,
    "DELETE FROM cluster_rollups WHERE page_uuid = %(page)s",
    """
    INSERT INTO cluster_rollups
    SELECT page_uuid, (created_at AT TIME ZONE 'UTC')::date, cluster_idx,
        count(*), sum(x), sum(y), sum(ieee_square(x)), sum(ieee_square(y))
    FROM clicks WHERE page_uuid = %(page)s GROUP BY 1, 2, 3
    """,
    "DELETE FROM page_totals WHERE page_uuid = %(page)s",
    """
    INSERT INTO page_totals
    SELECT page_uuid, max(seq), max(cluster_idx) + 1, max(created_at) FROM clicks
    WHERE page_uuid = %(page)s GROUP BY 1
    """,
]


async def rebuild_summaries(conn: Connection, page_uuid: str) -> None:
    """Recompute a page's clusters, rollups and totals from its clicks, holding the page lock
    as saves do."""
    async with conn.transaction():
        await conn.execute(LOCK_PAGE, (page_uuid,))
        for statement in RECOMPUTE_SUMMARIES:
            await conn.execute(statement, {"page": page_uuid})


# At most `batch` keys older than the TTL; a key's row lock is all it takes, never the page's.
PRUNE_KEYS = """
    DELETE FROM idempotency_keys WHERE (page_uuid, key) IN (
        SELECT page_uuid, key FROM idempotency_keys
        WHERE created_at < now() - %s * interval '1 hour'
        LIMIT %s
    )
"""


async def prune_keys(conn: Connection, ttl_hours: float, batch: int) -> int:
    """Delete up to `batch` expired idempotency keys, in the connection's transaction; how many."""
    cursor = await conn.execute(PRUNE_KEYS, (ttl_hours, batch))
    return cursor.rowcount


ALL_PAGES = "SELECT page_uuid FROM pages ORDER BY page_uuid"


async def all_pages(conn: Connection) -> list[str]:
    cursor = await conn.execute(ALL_PAGES)
    return [page for (page,) in await cursor.fetchall()]


CLICKS_IN_ORDER = "SELECT x, y, cluster_idx FROM clicks WHERE page_uuid = %s ORDER BY seq"


async def clicks_in_order(conn: Connection, page_uuid: str) -> list[Click]:
    cursor = conn.cursor(row_factory=class_row(Click))
    await cursor.execute(CLICKS_IN_ORDER, (page_uuid,))
    return await cursor.fetchall()
