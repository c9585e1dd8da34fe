"""A Citus cluster's nodes, as CITUS_URL (a superuser's database on the coordinator) shows
them, and databases of one's own on all of them, for the Citus tests and the benchmark."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

CITUS_URL = os.environ.get("CITUS_URL", "")


@dataclass(frozen=True)
class Node:
    host: str
    port: int

    def url(self, dbname: str) -> str:
        return make_conninfo(CITUS_URL, host=self.host, port=self.port, dbname=dbname)

    def run(self, dbname: str, *statements: str) -> None:
        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)


@dataclass(frozen=True)
class Nodes:
    coordinator: Node
    workers: list[Node]

    def all(self) -> list[Node]:
        return [self.coordinator, *self.workers]

    def make_coordinator(self, dbname: str) -> None:
        """Turn the coordinator's database `dbname` into a Citus one, with every worker."""
        here = self.coordinator
        here.run(
            dbname,
            "CREATE EXTENSION citus",
            f"SELECT citus_set_coordinator_host('{here.host}', {here.port})",
            *(f"SELECT citus_add_node('{w.host}', {w.port})" for w in self.workers),
        )


def citus_nodes() -> Nodes:
    with psycopg.connect(CITUS_URL) as conn:
        workers = [
            Node(host, port)
            for host, port in conn.execute(
                "SELECT node_name, node_port FROM citus_get_active_worker_nodes() ORDER BY 2"
            )
        ]
        row = conn.execute(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid = 0"
        ).fetchone()
    if row is not None:
        return Nodes(Node(*row), workers)
    url = conninfo_to_dict(CITUS_URL)
    return Nodes(Node(str(url["host"]), int(url.get("port") or 5432)), workers)


@contextmanager
def database_on_every_node(nodes: Nodes, name: str) -> Iterator[str]:
    """A new database on every node, with the citus extension on the workers; yields the
    coordinator's URL of it, and drops it everywhere at the end."""
    try:
        for node in nodes.all():
            node.run("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            node.run("postgres", f"CREATE DATABASE {name}")
        for worker in nodes.workers:
            worker.run(name, "CREATE EXTENSION citus")
        yield nodes.coordinator.url(name)
    finally:
        for node in nodes.all():
            node.run("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
