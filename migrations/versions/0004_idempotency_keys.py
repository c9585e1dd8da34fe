"""Idempotency keys: a save sent with one is stored at most once per page and key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from importlib import import_module

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What the first save with a key was sent and answered, so that a retry gets the same answer.
# Written by save_click() in the click's transaction; `python -m app.prune` deletes old ones.
# No foreign key to pages: on Citus a local table may not reference a distributed one, and this
# one is created local, then distributed by migrations/citus.py.
CREATE_KEYS = [
    """
    CREATE TABLE idempotency_keys (
        page_uuid text NOT NULL,
        key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
        x double precision NOT NULL,
        y double precision NOT NULL,
        cluster_idx integer NOT NULL,
        is_new boolean NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (page_uuid, key)
    )
    """,
    "CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)",
]
# 0003's save_click() with an optional key. A key seen before on the page, with the same point,
# answers what its first save answered and stores nothing; with another point it raises
# KEY_REUSED. Under the page lock, a retry that arrives while the first save runs waits for it.
# Callers of 0003's four arguments (a service not yet upgraded) get the same function.
KEY_REUSED = "CK001"
ARGUMENTS_0003 = "text, double precision, double precision, double precision"
SAVE_CLICK = f"""
CREATE OR REPLACE FUNCTION save_click(
    page text, x double precision, y double precision, radius double precision,
    idempotency_key text DEFAULT NULL
) RETURNS TABLE (cluster_idx integer, is_new boolean, replayed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    click_seq bigint;
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
                    USING ERRCODE = '{KEY_REUSED}';
            END IF;
            replayed := true;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    replayed := false;
    SELECT coalesce(max(clicks.seq), 0) + 1 INTO click_seq FROM clicks WHERE page_uuid = page;
    SELECT clusters.cluster_idx,
        sqrt(ieee_square(ieee_mean(sum_x, size) - save_click.x)
            + ieee_square(ieee_mean(sum_y, size) - save_click.y))
    INTO save_click.cluster_idx, distance
    FROM clusters WHERE page_uuid = page
    ORDER BY 2, 1
    LIMIT 1;
    is_new := NOT FOUND OR distance > radius;
    IF is_new THEN
        SELECT count(*) INTO save_click.cluster_idx FROM clusters WHERE page_uuid = page;
        INSERT INTO clusters (page_uuid, cluster_idx, size, sum_x, sum_y)
        VALUES (page, save_click.cluster_idx, 1, save_click.x, save_click.y);
    ELSE
        UPDATE clusters
        SET size = size + 1, sum_x = sum_x + save_click.x, sum_y = sum_y + save_click.y
        WHERE page_uuid = page AND clusters.cluster_idx = save_click.cluster_idx;
    END IF;
    INSERT INTO clicks (page_uuid, seq, x, y, cluster_idx)
    VALUES (page, click_seq, save_click.x, save_click.y, save_click.cluster_idx);
    IF idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (page_uuid, key, x, y, cluster_idx, is_new)
        VALUES (page, idempotency_key, save_click.x, save_click.y, save_click.cluster_idx, is_new);
    END IF;
    RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    for statement in [
        *CREATE_KEYS,
        f"DROP FUNCTION save_click({ARGUMENTS_0003})",
        SAVE_CLICK,
    ]:
        op.execute(statement)


def downgrade() -> None:
    click_seq = import_module("migrations.versions.0003_click_seq")
    for statement in [
        f"DROP FUNCTION save_click({ARGUMENTS_0003}, text)",
        click_seq.SAVE_CLICK,
        "DROP TABLE idempotency_keys",
    ]:
        op.execute(statement)
