"""Pages, their cluster summaries and their clicks.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Every key leads with page_uuid, so the data can be sharded by page.
UPGRADE = [
    """
    CREATE TABLE pages (
        page_uuid text PRIMARY KEY CHECK (length(page_uuid) BETWEEN 1 AND 255),
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Derived from clicks (count and coordinate sums per cluster, so centroid = sums / size);
    # always written in the same transaction as the click.
    """
    CREATE TABLE clusters (
        page_uuid text NOT NULL REFERENCES pages,
        cluster_idx integer NOT NULL CHECK (cluster_idx >= 0),
        size bigint NOT NULL CHECK (size > 0),
        sum_x double precision NOT NULL,
        sum_y double precision NOT NULL,
        PRIMARY KEY (page_uuid, cluster_idx)
    )
    """,
    """
    CREATE TABLE clicks (
        page_uuid text NOT NULL REFERENCES pages,
        click_id bigint GENERATED ALWAYS AS IDENTITY,
        x double precision NOT NULL CHECK (x BETWEEN 0 AND 1),
        y double precision NOT NULL CHECK (y BETWEEN 0 AND 1),
        cluster_idx integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (page_uuid, click_id)
    )
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE clicks, clusters, pages")
