"""Distribution on Citus, which env.py runs after every migration run.

Where the database has the citus extension and workers, the tables are distributed by page_uuid
and colocated, so that all of a page's rows live on one worker, and calls of save_click() are
delegated to that worker. Each step is skipped once done, so that a run on a distributed
database changes nothing. Without the extension nothing happens at all; with it but no worker
yet, nothing either, but a warning: the next run, once workers are added, distributes.
"""

import warnings

from sqlalchemy import Connection

# save_click() calls these; they must be on every node before a statement that calls them is.
HELPERS = ("ieee_square(double precision)", "ieee_mean(double precision, bigint)")
# pages first: the others are colocated with it.
TABLES = ("pages", "clusters", "clicks", "idempotency_keys", "cluster_rollups", "page_totals")
SAVE_CLICK = "save_click(text, double precision, double precision, double precision, text)"

CITUS_INSTALLED = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
# Without workers, Citus would put every shard on the coordinator, and leave them there.
HAS_WORKERS = "SELECT EXISTS (SELECT FROM citus_get_active_worker_nodes())"
# One transaction, so that a save sees the database as it was or as it is now, never between;
# Citus distributes functions in a transaction only over one connection per node.
ONE_CONNECTION_PER_NODE = "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"
TABLE_TO_DISTRIBUTE = """
    SELECT to_regclass(%(table)s) IS NOT NULL
        AND NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = to_regclass(%(table)s))
"""
DISTRIBUTE_TABLE = (
    "SELECT create_distributed_table(%(table)s, 'page_uuid', colocate_with => %(colocate_with)s)"
)
# Rows that a table held before are copied into its shards; this frees the local copy, once
# no local table references it.
TRUNCATE_LOCAL_DATA = "SELECT truncate_local_data_after_distributing_table(%(table)s)"
# Citus propagates a function created after the extension on its own, but with no
# distribution argument: save_click() counts as distributed only once it has its argument.
FUNCTION_TO_DISTRIBUTE = """
    SELECT to_regprocedure(%(function)s) IS NOT NULL AND NOT EXISTS (
        SELECT FROM pg_dist_object
        WHERE classid = 'pg_proc'::regclass AND objid = to_regprocedure(%(function)s)
            AND (distribution_argument_index IS NOT NULL OR %(argument)s::text IS NULL)
    )
"""
DISTRIBUTE_FUNCTION = """
    SELECT create_distributed_function(
        %(function)s, %(argument)s::text, colocate_with => %(colocate_with)s
    )
"""


def distribute_on_citus(connection: Connection) -> list[str]:
    """Distribute what is not distributed yet; the names of what this run distributed."""
    with connection.begin():
        if not connection.exec_driver_sql(CITUS_INSTALLED).scalar():
            return []
        if not connection.exec_driver_sql(HAS_WORKERS).scalar():
            warnings.warn("Citus has no workers yet: nothing distributed", stacklevel=2)
            return []
        connection.exec_driver_sql(ONE_CONNECTION_PER_NODE)
        helpers = [function for function in HELPERS if distribute_function(connection, function)]
        tables = [
            table
            for table in TABLES
            if connection.exec_driver_sql(TABLE_TO_DISTRIBUTE, {"table": table}).scalar()
        ]
        for table in tables:
            colocate_with = "default" if table == TABLES[0] else TABLES[0]
            connection.exec_driver_sql(
                DISTRIBUTE_TABLE, {"table": table, "colocate_with": colocate_with}
            )
        for table in tables:
            connection.exec_driver_sql(TRUNCATE_LOCAL_DATA, {"table": table})
        # Calls are delegated to the worker that holds their page's shard of `pages`.
        save_click = distribute_function(connection, SAVE_CLICK, argument="page")
    return helpers + tables + ([SAVE_CLICK] if save_click else [])


def distribute_function(connection: Connection, function: str, argument: str | None = None) -> bool:
    """Distribute the function unless it is already; whether this call did."""
    colocate_with = "default" if argument is None else TABLES[0]
    params = {"function": function, "argument": argument, "colocate_with": colocate_with}
    if not connection.exec_driver_sql(FUNCTION_TO_DISTRIBUTE, params).scalar():
        return False
    connection.exec_driver_sql(DISTRIBUTE_FUNCTION, params)
    return True
