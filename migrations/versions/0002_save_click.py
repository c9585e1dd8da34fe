"""save_click(): a save as one statement, so the page lock is never held across a round trip.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# IEEE float8 arithmetic as numpy does it, where PostgreSQL differs: a product or quotient that
# rounds to zero is an underflow error (22003) there. Below these bounds the result rounds to
# zero: v * v when |v| < 2^-537.5, and sum / size when sum / size <= 2^-1075.
IEEE_HELPERS = [
    """
    CREATE FUNCTION ieee_square(v double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN abs(v) < 1.5717277847026288e-162 THEN 0 ELSE v * v END
    """,
    """
    CREATE FUNCTION ieee_mean(sum double precision, size bigint) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN 2 * sum <= size * 4.9406564584124654e-324 THEN 0 ELSE sum / size END
    """,
]
# The rule of app.clustering.assign, in SQL. Its float8 operations are numpy's, in numpy's order
# (centroid = sum / size, then sqrt(dx * dx + dy * dy)), so both decide alike to the last bit;
# the tests hold them to it. The nearest centroid within the radius is the nearest centroid, if
# that one is within.
SAVE_CLICK = """
CREATE FUNCTION save_click(
    page text, x double precision, y double precision, radius double precision
) RETURNS TABLE (cluster_idx integer, is_new boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO pages (page_uuid) VALUES (page) ON CONFLICT (page_uuid) DO NOTHING;
    -- Saves on one page are serialized by this row lock. In READ COMMITTED each statement
    -- below takes a fresh snapshot, after the lock: it sees all that the last holder committed.
    PERFORM FROM pages WHERE page_uuid = page FOR UPDATE;
    RETURN QUERY
    WITH nearest AS (
        SELECT clusters.cluster_idx
        FROM clusters,
            LATERAL (
                SELECT ieee_mean(sum_x, size) - save_click.x AS dx,
                    ieee_mean(sum_y, size) - save_click.y AS dy
            ) AS offsets,
            LATERAL (SELECT sqrt(ieee_square(dx) + ieee_square(dy)) AS distance) AS distances
        WHERE page_uuid = page AND distance <= radius
        ORDER BY distance, clusters.cluster_idx
        LIMIT 1
    ), assignment AS (
        SELECT
            CAST(coalesce(
                (SELECT nearest.cluster_idx FROM nearest),
                (SELECT count(*) FROM clusters WHERE page_uuid = page)
            ) AS integer) AS cluster_idx,
            NOT EXISTS (SELECT FROM nearest) AS is_new
    ), grown AS (
        UPDATE clusters
        SET size = size + 1, sum_x = sum_x + save_click.x, sum_y = sum_y + save_click.y
        FROM nearest
        WHERE clusters.page_uuid = page AND clusters.cluster_idx = nearest.cluster_idx
    ), opened AS (
        INSERT INTO clusters (page_uuid, cluster_idx, size, sum_x, sum_y)
        SELECT page, assignment.cluster_idx, 1, save_click.x, save_click.y
        FROM assignment WHERE assignment.is_new
    ), stored AS (
        INSERT INTO clicks (page_uuid, x, y, cluster_idx)
        SELECT page, save_click.x, save_click.y, assignment.cluster_idx FROM assignment
    )
    SELECT assignment.cluster_idx, assignment.is_new FROM assignment;
END
$$
"""


def upgrade() -> None:
    for statement in [*IEEE_HELPERS, SAVE_CLICK]:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION save_click, ieee_mean, ieee_square")
