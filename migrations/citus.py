"""Distribution on Citus, which env.py runs after every migration run.

Where the database has the citus extension, the tables are distributed by page_uuid and
colocated, so that all of a page's rows live on one worker, and calls of save_click() are
delegated to that worker. Each step is skipped once done, so that a run on a distributed
database changes nothing; without the extension nothing happens at all.
"""

from sqlalchemy import Connection

# pages first: the others are colocated with it.
TABLES = ("pages", "clusters", "clicks")
# save_click() runs on the worker holding its page, so the helpers it calls must be there too.
FUNCTIONS = (
    "ieee_square(double precision)",
    "ieee_mean(double precision, bigint)",
    "save_click(text, double precision, double precision, double precision)",
)
DISTRIBUTION_ARGUMENTS = {FUNCTIONS[-1]: "page"}

CITUS_INSTALLED = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
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
# A function that Citus propagated on its own has no distribution argument, and is not
# delegated: it counts as distributed only once it has the argument it should have.
FUNCTION_TO_DISTRIBUTE = """
    SELECT to_regprocedure(%(function)s) IS NOT NULL AND NOT EXISTS (
        SELECT FROM pg_dist_object
        WHERE classid = 'pg_proc'::regclass AND objid = to_regprocedure(%(function)s)
            AND (distribution_argument_index IS NOT NULL OR %(argument)s::text IS NULL)
    )
"""
DISTRIBUTE_FUNCTION = """
    SELECT create_distributed_function(
        %(function)s, %(argument)s::text,
        colocate_with => CASE WHEN %(argument)s::text IS NULL THEN 'default' ELSE 'pages' END
    )
"""


def distribute_on_citus(connection: Connection) -> list[str]:
    """Distribute what is not distributed yet; the names of what this run distributed."""
    with connection.begin():
        if not connection.exec_driver_sql(CITUS_INSTALLED).scalar():
            return []
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
    # Its own transaction: Citus distributes functions over one connection per node, and
    # the tables above were copied over several.
    with connection.begin():
        functions = []
        for function in FUNCTIONS:
            params = {"function": function, "argument": DISTRIBUTION_ARGUMENTS.get(function)}
            if connection.exec_driver_sql(FUNCTION_TO_DISTRIBUTE, params).scalar():
                connection.exec_driver_sql(DISTRIBUTE_FUNCTION, params)
                functions.append(function)
    return tables + functions
