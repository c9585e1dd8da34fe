"""Alembic environment: online migrations over psycopg, with the app's DATABASE_URL."""

import psycopg
from alembic import context
from sqlalchemy import NullPool, create_engine

from app.settings import get_settings
from migrations.citus import distribute_on_citus

database_url: str = (
    context.config.attributes.get("database_url") or get_settings().required_database_url()
)

# SQLAlchemy only carries alembic's statements; psycopg takes the libpq URI as it is.
engine = create_engine(
    "postgresql+psycopg://", creator=lambda: psycopg.connect(database_url), poolclass=NullPool
)
MIGRATION_LOCK = 4_243_001  # any constant; instances that start together migrate one at a time

with engine.connect() as connection:
    connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
    connection.commit()  # the lock is the session's; it ends with the connection
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()  # ends what alembic's look at the version table began
    for distributed in distribute_on_citus(connection):
        context.config.print_stdout("Distributed %s on Citus", distributed)
