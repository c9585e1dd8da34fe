"""Prometheus metrics. Under several workers every process writes its own into
PROMETHEUS_MULTIPROC_DIR (set by `app.serve`) and /metrics adds them up."""

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.pool import Pool, usage

REQUESTS = Counter(
    "clickclust_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "clickclust_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
UNAVAILABLE = Counter(
    "clickclust_unavailable_total", "Requests answered 503, by reason", ["reason"]
)
CLICKS_SAVED = Counter("clickclust_clicks_saved_total", "Clicks saved")
CLUSTERS_OPENED = Counter("clickclust_clusters_opened_total", "Clusters opened")
POOL_SAMPLE_SECONDS = 1.0
# Keyed by the figures of app.pool.usage(), labelled by pool ("clicks" or "reads"): a sum would
# hide the reads' pool running full while the clicks' has room, which is what it is there for.
POOL_GAUGES = {
    figure: Gauge(name, description, ["pool"], multiprocess_mode="livesum")
    for figure, name, description in [
        ("pool_size", "clickclust_pool_connections", "Connections open in the pool"),
        ("pool_available", "clickclust_pool_idle_connections", "Idle pooled connections"),
        (
            "requests_waiting",
            "clickclust_pool_waiting_requests",
            "Requests waiting for a connection",
        ),
    ]
}
# Where the middleware notes when a request started, for the line a 503 is logged in.
STARTED = "clickclust.started"


def exposition() -> bytes:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest()
    forget_dead_workers(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


class RequestMetrics:
    """ASGI middleware: counts and times each request by its route template (not its path,
    which would make one series per page), and samples the usage of each pool, at most once
    every POOL_SAMPLE_SECONDS: each sample is six writes to the metrics files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pools_sampled_at = -math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = scope[STARTED] = time.perf_counter()
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            name = route_template(scope)
            LATENCY.labels(scope["method"], name).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], name, str(status)).inc()
            if started - self.pools_sampled_at >= POOL_SAMPLE_SECONDS:
                self.pools_sampled_at = started
                sample_pools(scope.get("state", {}).values())


def sample_pools(candidates: Iterable[object]) -> None:
    """The usage of each pool among `candidates` into the gauges."""
    for pool in candidates:
        if isinstance(pool, Pool):
            for figure, value in usage(pool).items():
                POOL_GAUGES[figure].labels(pool.name).set(value)


def route_template(scope: Scope) -> str:
    """The path of the route that matched, as declared (`/clusters`), or `unmatched`."""
    route: BaseRoute | None = scope.get("route")
    return getattr(route, "path", "unmatched")


def forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges of worker processes that are gone (killed, or replaced by uvicorn),
    which would otherwise be summed forever."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
