"""Rollups that saves keep, so that reads cost O(clusters x days), not O(clicks).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from importlib import import_module

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Both derived from clicks, written by save_click() in the click's transaction, backfilled
# here, and checked and rebuilt by `python -m app.rebuild`.
CREATE_TABLES = [
    # Per UTC day and cluster: its clicks, and their coordinates' sums and sums of squares,
    # from which a window's size, centroid and RMS radius follow.
    """
    CREATE TABLE cluster_rollups (
        page_uuid text NOT NULL,
        day date NOT NULL,
        cluster_idx integer NOT NULL,
        clicks bigint NOT NULL CHECK (clicks > 0),
        sum_x double precision NOT NULL,
        sum_y double precision NOT NULL,
        sum_xx double precision NOT NULL,
        sum_yy double precision NOT NULL,
        PRIMARY KEY (page_uuid, day, cluster_idx)
    )
    """,
    # Per page: its clicks (so also its highest seq), clusters and latest click, for the list
    # of pages. Kept apart from `pages`, whose row saves lock: rewriting the locked row would
    # make every waiting save chase its newest version.
    """
    CREATE TABLE page_totals (
        page_uuid text PRIMARY KEY,
        clicks bigint NOT NULL CHECK (clicks > 0),
        clusters integer NOT NULL CHECK (clusters > 0),
        last_click_at timestamptz NOT NULL
    )
    """,
]
BACKFILL = [
    # Saves wait until the new save_click() is in place: one that inserted a click after the
    # backfill read `clicks` would otherwise be missing from the rollups.
    "LOCK TABLE clicks IN SHARE MODE",
    """
    INSERT INTO cluster_rollups
    SELECT page_uuid, (created_at AT TIME ZONE 'UTC')::date, cluster_idx,
        count(*), sum(x), sum(y), sum(ieee_square(x)), sum(ieee_square(y))
    FROM clicks GROUP BY 1, 2, 3
    """,
    """
    INSERT INTO page_totals
    SELECT page_uuid, max(seq), max(cluster_idx) + 1, max(created_at) FROM clicks GROUP BY 1
    """,
]
# 0004's save_click(), which also keeps the rollups. The page's totals give the click's seq and
# a new cluster's idx, in place of 0004's max(seq) and count(*) over the page.
SAVE_CLICK = """
CREATE OR REPLACE FUNCTION save_click(
    page text, x double precision, y double precision, radius double precision,
    idempotency_key text DEFAULT NULL
) RETURNS TABLE (cluster_idx integer, is_new boolean, replayed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    click_seq bigint;
    page_clusters integer;
    distance double precision;
    first_x double precision;
    first_y double precision;
BEGIN
    PERFORM FROM pages WHERE page_uuid = page FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO pages (page_uuid) VALUES (page) ON CONFLICT (page_uuid) DO NOTHING;
        PERFORM FROM pages WHERE page_uuid = page FOR UPDATE;
    END IF;
    IF idempotency_key IS NOT NULL THEN
        SELECT keys.x, keys.y, keys.cluster_idx, keys.is_new
        INTO first_x, first_y, save_click.cluster_idx, save_click.is_new
        FROM idempotency_keys AS keys WHERE page_uuid = page AND key = idempotency_key;
        IF FOUND THEN
            IF first_x <> save_click.x OR first_y <> save_click.y THEN
                RAISE EXCEPTION 'this Idempotency-Key was used on this page for another click'
                    USING ERRCODE = 'CK001';
            END IF;
            replayed := true;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    replayed := false;
    -- A page's first click counts its first cluster here; later new clusters below. Saves are
    -- serialized by the lock, but took now() when they began: the latest click is the greatest.
    INSERT INTO page_totals AS totals (page_uuid, clicks, clusters, last_click_at)
    VALUES (page, 1, 1, now())
    ON CONFLICT (page_uuid) DO UPDATE  -- on Citus, no function here that is not IMMUTABLE
    SET clicks = totals.clicks + 1,
        last_click_at = greatest(totals.last_click_at, excluded.last_click_at)
    RETURNING totals.clicks, totals.clusters INTO click_seq, page_clusters;
    SELECT clusters.cluster_idx,
        sqrt(ieee_square(ieee_mean(sum_x, size) - save_click.x)
            + ieee_square(ieee_mean(sum_y, size) - save_click.y))
    INTO save_click.cluster_idx, distance
    FROM clusters WHERE page_uuid = page
    ORDER BY 2, 1
    LIMIT 1;
    is_new := NOT FOUND OR distance > radius;
    IF is_new THEN
        save_click.cluster_idx := CASE WHEN click_seq = 1 THEN 0 ELSE page_clusters END;
        IF click_seq > 1 THEN
            UPDATE page_totals SET clusters = clusters + 1 WHERE page_uuid = page;
        END IF;
        INSERT INTO clusters (page_uuid, cluster_idx, size, sum_x, sum_y)
        VALUES (page, save_click.cluster_idx, 1, save_click.x, save_click.y);
    ELSE
        UPDATE clusters
        SET size = size + 1, sum_x = sum_x + save_click.x, sum_y = sum_y + save_click.y
        WHERE page_uuid = page AND clusters.cluster_idx = save_click.cluster_idx;
    END IF;
    INSERT INTO clicks (page_uuid, seq, x, y, cluster_idx)
    VALUES (page, click_seq, save_click.x, save_click.y, save_click.cluster_idx);
    INSERT INTO cluster_rollups AS rollups
        (page_uuid, day, cluster_idx, clicks, sum_x, sum_y, sum_xx, sum_yy)
    VALUES (
        page, (now() AT TIME ZONE 'UTC')::date, save_click.cluster_idx, 1,
        save_click.x, save_click.y, ieee_square(save_click.x), ieee_square(save_click.y)
    )
    ON CONFLICT (page_uuid, day, cluster_idx) DO UPDATE
    SET clicks = rollups.clicks + 1,
        sum_x = rollups.sum_x + excluded.sum_x, sum_y = rollups.sum_y + excluded.sum_y,
        sum_xx = rollups.sum_xx + excluded.sum_xx, sum_yy = rollups.sum_yy + excluded.sum_yy;
    IF idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (page_uuid, key, x, y, cluster_idx, is_new)
        VALUES (page, idempotency_key, save_click.x, save_click.y, save_click.cluster_idx, is_new);
    END IF;
    RETURN NEXT;
END
$$
"""


# 0002's ieee_mean() multiplied the size by the smallest subnormal as a numeric of 324 digits,
# on every row, several times per distance: most of what a prediction cost PostgreSQL. In
# float8 the product is the same (n times the smallest subnormal is exact), and the rule's
# answers stay the same to the last bit (tests/test_rule_in_sql.py).
IEEE_MEAN = """
CREATE OR REPLACE FUNCTION ieee_mean(sum double precision, size bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN 2 * sum <= size * 4.9406564584124654e-324::double precision THEN 0
    ELSE sum / size END
"""


def upgrade() -> None:
    for statement in [*CREATE_TABLES, *BACKFILL, IEEE_MEAN, SAVE_CLICK]:
        op.execute(statement)


def downgrade() -> None:
    op.execute(import_module("migrations.versions.0004_idempotency_keys").SAVE_CLICK)
    op.execute("DROP TABLE cluster_rollups, page_totals")
