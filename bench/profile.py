"""Profile a service worker under each request type: `python -m bench.profile LABEL`.

Starts the service with one uvicorn worker on the many-pages workload (`1k-pages`), drives it
with wrk (8 connections) with saves, predicts and `GET /` in turn, and records the worker with
py-spy during each run, only while it holds the GIL: where its CPU goes, not where it waits.
Writes, in bench/profiles/: `LABEL-OP.svg`, a flame graph, and `LABEL-OP.txt`, the collapsed
stacks (open them in speedscope, or grep them); and `LABEL.md`, the share of the worker's
samples that each library's code is on the stack for, and runs itself.
"""

import argparse
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np

from bench.run import HERE, MANY_PAGES, ROOT, backends, run_wrk
from harness.servers import Server, running_server

PROFILES = HERE / "profiles"
PY_SPY = Path(sys.executable).parent / "py-spy"  # requirements-bench.txt's
OPS = ("save", "predict", ROOT)
CONNECTIONS = 8
SECONDS = 10
# The libraries (and the app) whose share of the samples is reported, by the first component
# of the paths py-spy gives frames: "handle (fastapi/routing.py:1839)".
LIBRARIES = (
    "app", "fastapi", "starlette", "pydantic", "pydantic_core", "uvicorn", "psycopg_pool",
    "psycopg", "prometheus_client", "logging", "json", "numpy", "asyncio", "opentelemetry",
)  # fmt: skip


def library(frame: str) -> str:
    path = frame[frame.rfind("(") + 1 :]
    name = path.split("/", 1)[0]
    return name if name in LIBRARIES else "other"


def record(pid: int, output: Path, fmt: str) -> None:
    subprocess.run(
        [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(SECONDS - 2), "--rate", "200",
         "--format", fmt, "--output", str(output), "--nonblocking", "--gil"],
        check=True, capture_output=True,
    )  # fmt: skip


def profile(server: Server, op: str, fmt: str, output: Path) -> None:
    """py-spy on the worker while wrk sends `op` requests."""
    # With one worker, uvicorn serves in the process it started in.
    recorder = threading.Thread(target=record, args=(server.process.pid, output, fmt))
    recorder.start()
    run_wrk(server, MANY_PAGES, op, CONNECTIONS, SECONDS)
    recorder.join()


def shares(collapsed: Path) -> tuple[Counter[str], Counter[str], int]:
    """Per library: the samples it is anywhere on the stack in, and those whose innermost frame
    is its own; and the number of samples."""
    anywhere: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        frames = [library(frame) for frame in stack.split(";")]
        anywhere.update(dict.fromkeys(set(frames), int(count)))
        innermost[frames[-1]] += int(count)
        total += int(count)
    return anywhere, innermost, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", help="e.g. before, after")
    args = parser.parse_args()
    PROFILES.mkdir(exist_ok=True)
    lines = [f"# Profiles: {args.label}", "", __doc__.split("\n\n", 1)[1].strip(), ""]
    with (
        backends([MANY_PAGES], np.random.default_rng(0)) as [plain],
        running_server(plain.url, workers=1) as server,
    ):
        for op in OPS:
            name = f"{args.label}-{op.replace(' ', '').replace('/', 'root')}"
            profile(server, op, "flamegraph", PROFILES / f"{name}.svg")
            profile(server, op, "raw", PROFILES / f"{name}.txt")
            anywhere, innermost, total = shares(PROFILES / f"{name}.txt")
            lines += [
                f"## {op} (`{name}.svg`, {total} samples)",
                "",
                "| library | on the stack | innermost frame |",
                "| --- | --- | --- |",
                *(
                    f"| {library} | {anywhere[library] / total:.0%} "
                    f"| {innermost[library] / total:.0%} |"
                    for library in [*LIBRARIES, "other"]
                    if anywhere[library]
                ),
                "",
            ]
    (PROFILES / f"{args.label}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
