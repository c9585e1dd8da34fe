"""Clicks numbered per page; save_click() as statements that Citus runs on the page's shard.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# A click's place in its page's order is `seq` (1, 2, ...), one past the page's highest, taken
# under the page lock: unlike a global identity column, which Citus draws per worker, it
# survives a move of the page's shard to another node.
NUMBER_CLICKS = [
    "ALTER TABLE clicks ADD COLUMN seq bigint CHECK (seq > 0)",
    """
    UPDATE clicks SET seq = numbered.seq
    FROM (
        SELECT page_uuid, click_id,
            row_number() OVER (PARTITION BY page_uuid ORDER BY click_id) AS seq
        FROM clicks
    ) AS numbered
    WHERE clicks.page_uuid = numbered.page_uuid AND clicks.click_id = numbered.click_id
    """,
    """
    ALTER TABLE clicks
        ALTER COLUMN seq SET NOT NULL,
        DROP CONSTRAINT clicks_pkey,
        ADD PRIMARY KEY (page_uuid, seq),
        DROP COLUMN click_id
    """,
]
# The rule of app.clustering.assign, as in 0002 to the last bit, but in statements that Citus
# runs on the page's shard, on the worker the call is delegated to (it runs a statement with
# data-modifying CTEs through the coordinator), each on one table so that Citus plans it on
# its fast path. The nearest centroid within the radius is the nearest centroid, if that one is
# within.
SAVE_CLICK = """
CREATE OR REPLACE FUNCTION save_click(
    page text, x double precision, y double precision, radius double precision
) RETURNS TABLE (cluster_idx integer, is_new boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    click_seq bigint;
    distance double precision;
BEGIN
    -- Saves on one page are serialized by this row lock, made by the page's first save. In
    -- READ COMMITTED each statement below takes a fresh snapshot, after the lock: it sees all
    -- that the last holder committed. The lock leaves the row as it is, so that the next
    -- waiter need not chase a new version of it.
    PERFORM FROM pages WHERE page_uuid = page FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO pages (page_uuid) VALUES (page) ON CONFLICT (page_uuid) DO NOTHING;
        PERFORM FROM pages WHERE page_uuid = page FOR UPDATE;
    END IF;
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
    RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    for statement in [*NUMBER_CLICKS, SAVE_CLICK]:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("0003 drops the global click_id; restore from a backup instead")
