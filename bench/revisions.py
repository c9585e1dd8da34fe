"""Saves at two alembic revisions, side by side: `python -m bench.revisions OLD NEW`.

For a change to save_click(): pgbench runs the service's save statement on two databases of
one server (DATABASE_URL's, or an embedded one), migrated to OLD and to NEW and holding the same
pages (one page, and 1,000 pages, of 50 clusters each), in interleaved rounds. Both revisions
must take the statement that the service sends now (0004 and later). It prints the
medians, and writes them to bench/RESULTS-revisions.md.
"""

import argparse
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from app.schema import migrate
from bench.run import (
    CENTERS,
    CONCURRENCY,
    HERE,
    WORKLOADS,
    Figures,
    Key,
    copy_rows,
    database_server,
    fmt,
    median,
    run_pgbench,
)

SIZE = 20  # clicks per loaded cluster
KEYS: list[Key] = [(w, "save", c) for w in ("1k", "1k-pages") for c in CONCURRENCY]


def database_at(server_url: str, revision: str) -> str:
    """A fresh database migrated to `revision`, with the pages of both workloads: each has
    a cluster of SIZE clicks on every blob centre (summaries only, valid at every revision)."""
    name = f"clickclust_bench_{revision}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = make_conninfo(server_url, dbname=name)
    migrate(url, revision)
    pages = [page for w in ("1k", "1k-pages") for page in WORKLOADS[w].page_uuids(w)]
    with psycopg.connect(url) as conn:
        copy_rows(conn, "COPY pages (page_uuid) FROM STDIN", [(page,) for page in pages])
        copy_rows(
            conn,
            "COPY clusters (page_uuid, cluster_idx, size, sum_x, sum_y) FROM STDIN",
            [
                (page, idx, SIZE, x * SIZE, y * SIZE)
                for page in pages
                for idx, (x, y) in enumerate(CENTERS.tolist())
            ],
        )
        if conn.execute("SELECT to_regclass('page_totals')").fetchone() != (None,):  # 0005 on
            copy_rows(
                conn,
                "COPY page_totals (page_uuid, clicks, clusters, last_click_at) FROM STDIN",
                [(page, SIZE * len(CENTERS), len(CENTERS), "now") for page in pages],
            )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-revisions.md")
    args = parser.parse_args()
    revisions = (args.old, args.new)
    runs: dict[tuple[str, Key], list[Figures]] = {(r, k): [] for r in revisions for k in KEYS}
    with database_server() as server_url:
        urls = {revision: database_at(server_url, revision) for revision in revisions}
        for _ in range(args.runs):
            for key in KEYS:
                for revision, url in urls.items():
                    figures = run_pgbench(url, {"db": url}, key, args.seconds)
                    runs[revision, key].append(figures)
    old, new = args.old, args.new
    lines = [
        f"# save_click() at revision {old} and at {new}",
        "",
        f"`python -m bench.revisions {old} {new} --runs {args.runs} --seconds {args.seconds}`: "
        f"pgbench -M prepared running the save statement, medians of {args.runs} interleaved "
        f"rounds of {args.seconds} s; `1k` sends every click to one page, `1k-pages` to one of "
        "1,000 pages at random; each page holds 50 clusters.",
        "",
        f"| workload | connections | {old} tps | {new} tps | {new} / {old} "
        f"| {old} CPU ms | {new} CPU ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in KEYS:
        before, after = median(runs[old, key]), median(runs[new, key])
        lines.append(
            f"| {key[0]} | {key[2]} | {fmt(before.throughput, 0)} | {fmt(after.throughput, 0)} "
            f"| {after.throughput / before.throughput:.0%} | {before.cpu_ms['db']:.3f} "
            f"| {after.cpu_ms['db']:.3f} |"
        )
    args.output.write_text("\n".join([*lines, ""]))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
