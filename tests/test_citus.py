"""The service on a real Citus cluster, when CITUS_URL names a superuser's database on a
coordinator with two or more workers; skipped otherwise.

The module makes a database of its own on every node and drops it at the end. The service
first runs on it as on a single PostgreSQL; then, while it keeps saving, the database moves to
Citus as docs/citus.md says an existing one does: the coordinator's database gets the citus
extension and its workers, and migrating (as every start of the service does) distributes it.
The test that stops a worker needs the workers on this host.
"""

import asyncio
import os
import pwd
import random
import subprocess
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.abc import Params
from sqlalchemy import create_engine

from app import db
from app.pool import Connection
from app.schema import migrate
from harness.citus_nodes import CITUS_URL, Node, Nodes, citus_nodes, database_on_every_node
from harness.servers import Server, command, running_server
from migrations.citus import SAVE_CLICK, TABLES, distribute_on_citus
from tests.bursts import assert_a_burst_gives_each_idx_once
from tests.db_checks import assert_clusters_match_clicks, snapshot
from tests.helpers import SAVE, click, random_prefix
from tests.replay import CASES, GENERATED, NEW_NAMES, replay

pytestmark = pytest.mark.skipif(
    not CITUS_URL, reason="CITUS_URL is not set: no Citus cluster to test against"
)
Sent = tuple[str, float, float, int]  # a save's page, x and y, and the status it got


@dataclass(frozen=True)
class Cluster:
    url: str  # the service's database, on the coordinator
    nodes: Nodes
    before_move: dict[str, list[tuple[object, ...]]]  # what it held as a single-node database
    during_move: list[Sent]  # saves sent while it moved


async def save_until(client: httpx.AsyncClient, done: asyncio.Event, sent: list[Sent]) -> None:
    """Saves on a page of its own, one after the other, until `done`."""
    page, rng = random_prefix(), random.Random()
    while not done.is_set():
        x, y = rng.random(), rng.random()
        body = click(page, x, y)
        sent.append((page, x, y, (await client.post(SAVE, json=body)).status_code))


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    nodes = citus_nodes()
    if len(nodes.workers) < 2:
        pytest.skip(f"the Citus cluster at CITUS_URL has {len(nodes.workers)} worker(s), not 2")
    name = f"clickclust_citus_{random_prefix()}"
    with database_on_every_node(nodes, name) as url, running_server(url) as server:
        async with server.client() as client:
            for case in list(GENERATED)[:3]:
                await replay([client], case, NEW_NAMES)
            async with await psycopg.AsyncConnection.connect(url) as conn:
                before_move = await snapshot(conn)
            done = asyncio.Event()
            during_move: list[Sent] = []
            senders = [asyncio.create_task(save_until(client, done, during_move)) for _ in range(4)]
            await asyncio.to_thread(nodes.make_coordinator, name)
            await asyncio.to_thread(migrate, url)
            done.set()
            await asyncio.gather(*senders)
        yield Cluster(url, nodes, before_move, during_move)


@pytest.fixture(scope="module")
def servers(cluster: Cluster) -> Iterator[tuple[Server, Server]]:
    """Two service processes; the first one's start distributes the database."""
    with running_server(cluster.url) as first, running_server(cluster.url) as second:
        yield first, second


@pytest.fixture
async def clients(servers: tuple[Server, Server]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with servers[0].client() as first, servers[1].client() as second:
        yield [first, second]


@pytest.fixture
async def conn(cluster: Cluster) -> AsyncIterator[Connection]:
    async with await psycopg.AsyncConnection.connect(cluster.url, autocommit=True) as conn:
        yield conn


async def worker_of(conn: Connection, page: str) -> Node:
    cursor = await conn.execute(
        "SELECT nodename, nodeport FROM citus_shards WHERE table_name = 'pages'::regclass"
        " AND shardid = get_shard_id_for_distribution_column('pages', %s::text)",
        (page,),
    )
    row = await cursor.fetchone()
    assert row is not None
    return Node(*row)


async def pages_by_worker(conn: Connection, per_worker: int) -> dict[Node, list[str]]:
    """New page ids, `per_worker` of them on each worker."""
    pages: dict[Node, list[str]] = defaultdict(list)
    cursor = await conn.execute("SELECT count(*) FROM citus_get_active_worker_nodes()")
    workers = (await cursor.fetchone() or (0,))[0]
    while len(pages) < workers or min(map(len, pages.values())) < per_worker:
        page = random_prefix()
        pages[await worker_of(conn, page)].append(page)
    return {node: found[:per_worker] for node, found in pages.items()}


async def test_the_move_distributed_the_tables_and_lost_no_row_nor_save(
    cluster: Cluster, conn: Connection
) -> None:
    cursor = await conn.execute("SELECT table_name::text, colocation_id FROM citus_tables")
    tables: dict[str, int] = dict(await cursor.fetchall())
    assert sorted(tables) == sorted(TABLES)
    assert len(set(tables.values())) == 1
    cursor = await conn.execute(
        "SELECT distribution_argument_index FROM pg_dist_object WHERE objid = %s::regprocedure",
        (SAVE_CLICK,),
    )
    assert await cursor.fetchone() == (0,)
    pages_before = {row[0] for row in cluster.before_move["pages"]}
    after = await snapshot(conn)
    assert {
        table: [row for row in rows if row[0] in pages_before] for table, rows in after.items()
    } == cluster.before_move
    # Saves went on while it moved: those that got a 200 are stored, and no other.
    assert {status for *_, status in cluster.during_move} <= {200, 503}
    acknowledged = {(page, x, y) for page, x, y, status in cluster.during_move if status == 200}
    assert acknowledged
    cursor = await conn.execute(
        "SELECT page_uuid, x, y FROM clicks WHERE page_uuid = ANY(%s)",
        (list({page for page, *_ in cluster.during_move}),),
    )
    assert set(await cursor.fetchall()) == acknowledged
    await assert_clusters_match_clicks(conn)
    # The step is idempotent: run again, it distributes nothing.
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(cluster.url))
    with engine.connect() as connection:
        assert distribute_on_citus(connection) == []


def test_without_workers_yet_migrating_distributes_nothing() -> None:
    coordinator = citus_nodes().coordinator
    name = f"clickclust_citus_{random_prefix()}"
    with database_on_every_node(Nodes(coordinator, []), name) as url:
        coordinator.run(name, "CREATE EXTENSION citus")
        with pytest.warns(UserWarning, match="no workers"):
            migrate(url)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM citus_tables").fetchone() == (0,)


async def test_replay_cases_over_two_processes_pass(
    clients: list[httpx.AsyncClient], conn: Connection
) -> None:
    await asyncio.gather(*(replay(clients, case, NEW_NAMES) for case in CASES))
    await assert_clusters_match_clicks(conn)


async def test_burst_on_pages_of_both_workers_gives_each_idx_once(
    clients: list[httpx.AsyncClient], conn: Connection
) -> None:
    pages = [page for found in (await pages_by_worker(conn, 2)).values() for page in found]
    await assert_a_burst_gives_each_idx_once(clients, conn, pages)


async def test_rebuild_replays_every_page_and_repairs_summaries(
    clients: list[httpx.AsyncClient], cluster: Cluster, conn: Connection
) -> None:
    await replay(clients, next(iter(GENERATED)), NEW_NAMES)
    result = command("rebuild", cluster.url, "--replay")
    assert (result.returncode, result.stdout) == (0, "0 problem(s) found\n"), result.stderr
    cursor = await conn.execute("SELECT page_uuid FROM pages LIMIT 1")
    [(page,)] = await cursor.fetchall()
    await conn.execute("UPDATE clusters SET size = size + 1 WHERE page_uuid = %s", (page,))
    result = command("rebuild", cluster.url)
    assert result.returncode == 1
    assert f"{page}: stored cluster summaries differed" in result.stdout
    await assert_clusters_match_clicks(conn)


async def test_idempotency_keys_hold_on_every_worker_and_prune_over_all_shards(
    clients: list[httpx.AsyncClient], cluster: Cluster, conn: Connection
) -> None:
    pages = [page for found in (await pages_by_worker(conn, 1)).values() for page in found]
    for page in pages:
        answers = [
            (await client.post(SAVE, json=click(page, 0.3, 0.3), headers={"Idempotency-Key": "k"}))
            for client in clients
        ]
        assert [answer.json() for answer in answers] == [{"cluster_idx": 0, "is_new": True}] * 2
        reused = await clients[0].post(
            SAVE, json=click(page, 0.6, 0.6), headers={"Idempotency-Key": "k"}
        )
        assert reused.status_code == 422
        cursor = await conn.execute("SELECT count(*) FROM clicks WHERE page_uuid = %s", (page,))
        assert await cursor.fetchone() == (1,)
    await conn.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days'"
        " WHERE page_uuid = ANY(%s)",
        (pages,),
    )
    result = command("prune", cluster.url, "--batch", "1")
    assert (result.returncode, result.stdout) == (
        0,
        f"{len(pages)} expired idempotency key(s) deleted\n",
    ), result.stderr


async def test_a_page_keeps_its_order_when_its_shards_move(
    clients: list[httpx.AsyncClient], cluster: Cluster, conn: Connection
) -> None:
    page = random_prefix()
    clicks = [(0.1 + 0.02 * n, 0.5) for n in range(20)]  # in a row: their ids follow their order

    async def save(points: list[tuple[float, float]]) -> None:
        for x, y in points:
            body = click(page, x, y)
            assert (await clients[0].post(SAVE, json=body)).status_code == 200

    await save(clicks[:10])
    source = await worker_of(conn, page)
    [target] = [worker for worker in cluster.nodes.workers[:2] if worker != source]
    await conn.execute(
        "SELECT citus_move_shard_placement("
        "get_shard_id_for_distribution_column('pages', %s::text), %s, %s, %s, %s,"
        " shard_transfer_mode => 'block_writes')",
        (page, source.host, source.port, target.host, target.port),
    )
    assert await worker_of(conn, page) == target
    await save(clicks[10:])
    cursor = await conn.execute(db.CLICKS_IN_ORDER, (page,))
    assert [(x, y) for x, y, _ in await cursor.fetchall()] == clicks
    result = command("rebuild", cluster.url, "--replay", page)
    assert (result.returncode, result.stdout) == (0, "0 problem(s) found\n"), result.stderr


async def test_every_single_page_statement_is_routed_to_one_shard(
    servers: tuple[Server, Server], cluster: Cluster
) -> None:
    page = random_prefix()
    click_params = {"page_uuid": page, "x": 0.5, "y": 0.5, "radius": 0.04}
    statements: list[tuple[str, Params]] = [
        (db.SAVE_CLICK, {**click_params, "key": None}),
        (db.SAVE_CLICK, {**click_params, "key": "key"}),
        (db.PREDICT_CLUSTER, click_params),
        (db.CLUSTER_SUMMARIES, {"page_uuid": page, "since": None, "until": None}),
        (db.BIGGEST_CLUSTER, (page,)),
        (db.CLUSTER_CLICKS, (page, 0, 10)),
        (db.CLUSTER_TRENDS, {"page_uuid": page, "since": None, "until": None}),
        (db.CLICKS_IN_ORDER, (page,)),
        (db.LOCK_PAGE, (page,)),
        *((statement, {"page": page}) for statement in db.RECOMPUTE_SUMMARIES),
    ]
    async with await psycopg.AsyncConnection.connect(cluster.url, autocommit=True) as conn:
        remote: list[str] = []
        conn.add_notice_handler(lambda notice: remote.append(notice.message_primary or ""))
        await conn.execute("SET citus.log_remote_commands = on")
        await conn.execute("SET client_min_messages = log")
        for statement, params in statements:
            remote.clear()
            await conn.execute(statement, params)
            issued = [message for message in remote if message.startswith("issuing")]
            assert len(issued) == 1, (statement, remote)


@contextmanager
def stopped(node: Node) -> Iterator[None]:
    """The node's PostgreSQL stopped, then started again as it was, with pg_ctl run as the
    owner of its data directory, in that user's environment."""
    with psycopg.connect(node.url("postgres")) as conn:
        data_dir = Path(str((conn.execute("SHOW data_directory").fetchone() or [""])[0]))
    if not data_dir.is_dir():
        pytest.skip(f"worker {node} does not run on this host: it cannot be stopped here")
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    pg_ctl = Path(os.readlink(f"/proc/{postmaster}/exe")).with_name("pg_ctl")
    owner = pwd.getpwuid(data_dir.stat().st_uid)
    env = {"HOME": owner.pw_dir, "USER": owner.pw_name, "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> None:
        subprocess.run(
            [str(pg_ctl), "-D", str(data_dir), "-w", *args],
            check=True,
            capture_output=True,
            user=owner.pw_uid,
            env=env,
        )

    run("-m", "fast", "stop")
    try:
        yield
    finally:
        run("-l", os.devnull, "-o", f"-p {node.port}", "start")


async def test_a_stopped_worker_fails_only_its_own_pages_and_fast(
    clients: list[httpx.AsyncClient], cluster: Cluster, conn: Connection
) -> None:
    pages = await pages_by_worker(conn, 3)
    down, up = cluster.nodes.workers[:2]

    async def save(page: str) -> tuple[int, float]:
        started = time.monotonic()
        body = click(page)
        response = await clients[0].post(SAVE, json=body)
        return response.status_code, time.monotonic() - started

    with stopped(down):
        for page in pages[up]:
            assert (await save(page))[0] == 200
        for page in pages[down]:
            status, seconds = await save(page)
            assert status == 503
            assert seconds < 2
    deadline = time.monotonic() + 10
    while (await save(pages[down][0]))[0] != 200:
        assert time.monotonic() < deadline, "saves on the restarted worker's pages still fail"
    for page in pages[down][1:]:
        assert (await save(page))[0] == 200
    # Nothing of the failed saves was stored: each of those pages holds its one saved click.
    cursor = await conn.execute(
        "SELECT page_uuid, count(*) FROM clicks WHERE page_uuid = ANY(%s) GROUP BY 1",
        (pages[down],),
    )
    assert dict(await cursor.fetchall()) == dict.fromkeys(pages[down], 1)
