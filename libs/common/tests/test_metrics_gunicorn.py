"""/metrics under a real gunicorn with deploy/gunicorn.conf.py: 2 workers, counted as one service.

The tiny service runs as `platform up` and compose run a service (preload, migrations in the
master, gthread workers); requests arrive on new connections so that both workers serve some.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector

from metrics_support import parse, value

TESTS = Path(__file__).resolve().parent
CONF = TESTS.parents[2] / "deploy" / "gunicorn.conf.py"
PING = {"service": "tiny", "route": "/_test/ping", "method": "GET", "status": "200"}
COUNT = "http_server_request_duration_seconds_count"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A gunicorn serving the tiny service; ``stop()`` returns its output."""

    def __init__(self, database_url: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        app = f"tinyapp:create_app({{'SQLALCHEMY_DATABASE_URI': {database_url!r}}})"
        self.process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            [sys.executable, "-m", "gunicorn", "-c", str(CONF), app],
            env={
                **os.environ,
                "PYTHONPATH": str(TESTS),
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "WEB_CONCURRENCY": "2",
                "GUNICORN_THREADS": "2",
                **env,
            },
            cwd=TESTS.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(f"{self.base}/health/live", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or its workers still load
                time.sleep(0.1)
        pytest.fail(f"gunicorn never answered:\n{self.stop()}")

    def get(self, path: str) -> requests.Response:
        # A connection per request ("close"): each may be accepted by either worker.
        return requests.get(self.base + path, headers={"Connection": "close"}, timeout=10)

    def metrics(self) -> dict[str, Any]:
        response = self.get("/metrics")
        assert response.status_code == 200
        return parse(response.text)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=30)
        return output


def pings_by_pid(folder: Path) -> dict[int, float]:
    """The tiny ping's request count in each process's file of the multiprocess folder."""
    counts = {}
    for path in folder.glob("histogram_*.db"):
        families = {m.name: m for m in MultiProcessCollector.merge([str(path)])}
        counts[int(path.stem.rsplit("_", 1)[1])] = value(families, COUNT, **PING)
    return {pid: count for pid, count in counts.items() if count}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "counter_1.db").write_bytes(b"a previous run's file")
    return folder


@pytest.fixture(scope="module")
def server(database_url: str, app: Any, folder: Path) -> Iterator[Server]:
    """2 workers, preloaded with the migrations in the master, the metrics folder given."""
    server = Server(
        database_url, {"PROMETHEUS_MULTIPROC_DIR": str(folder), "MIGRATE_ON_START": "1"}
    )
    yield server
    server.stop()


def test_a_given_folder_is_emptied_at_start(server, folder):
    assert not (folder / "counter_1.db").exists()


def test_requests_served_by_two_workers_are_counted_once_each(server, folder):
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        # Until both workers served some (it takes one batch; the bound only stops a bad day).
        while len(pings_by_pid(folder)) < 2 and sent < 800:
            assert all(r.status_code == 200 for r in pool.map(server.get, ["/_test/ping"] * 40))
            sent += 40
    by_pid = pings_by_pid(folder)
    assert len(by_pid) == 2, by_pid
    assert server.process.pid not in by_pid  # the master serves nothing
    assert sum(by_pid.values()) == sent
    families = server.metrics()
    assert value(families, COUNT, **PING) == sent
    assert value(families, "http_server_requests_in_flight", service="tiny") == 1  # the scrape
    assert value(families, "db_pool_connections_in_use", service="tiny") == 0
    assert value(families, "db_pool_overflow_in_use", service="tiny") == 0
    assert value(families, "events_outbox_backlog", service="tiny") == 0


def test_a_worker_that_exits_keeps_its_counts_and_takes_its_live_gauges(server, folder):
    before = value(server.metrics(), COUNT, **PING)
    assert before > 0  # the previous test's requests
    pid = next(iter(pings_by_pid(folder)))
    assert (folder / f"gauge_livesum_{pid}.db").exists()
    os.kill(pid, signal.SIGTERM)  # gunicorn starts another in its place
    deadline = time.monotonic() + 15
    while (folder / f"gauge_livesum_{pid}.db").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (folder / f"gauge_livesum_{pid}.db").exists()  # child_exit: mark_process_dead
    assert (folder / f"histogram_{pid}.db").exists()
    for _ in range(10):
        assert server.get("/_test/ping").status_code == 200
    families = server.metrics()
    assert value(families, COUNT, **PING) == before + 10
    assert value(families, "http_server_requests_in_flight", service="tiny") == 1


def test_without_a_folder_gunicorn_uses_a_temporary_one_and_removes_it(database_url, app, tmp_path):
    server = Server(database_url, {"PROMETHEUS_MULTIPROC_DIR": "", "TMPDIR": str(tmp_path)})
    try:
        (made,) = tmp_path.glob("prometheus-*")
        for _ in range(5):
            assert server.get("/_test/ping").status_code == 200
        assert value(server.metrics(), COUNT, **PING) == 5
        assert list(made.glob("histogram_*.db"))
    finally:
        output = server.stop()
    assert not made.exists(), output
