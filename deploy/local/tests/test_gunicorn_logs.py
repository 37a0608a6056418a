"""gunicorn's own lines, from a service started the way `platform up` starts it, are JSON."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from platform_local import stack
from platform_local.services import ROOT, discover

# Above any request line limit gunicorn accepts (8190 at most), so it warns whatever the config.
LONG_PATH = "/" + "a" * 9000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ready(url: str, server: subprocess.Popen[str]) -> bool:
    deadline = time.monotonic() + stack.READY_TIMEOUT
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def gunicorn_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run users under gunicorn as `platform up` does, send a too-long request line, stop it."""
    services = discover()
    users = dataclasses.replace(next(s for s in services if s.name == "users"), port=_free_port())
    data_dir = tmp_path_factory.mktemp("data")
    # The environment `platform up` gives a service (stack.build_manager): MIGRATE_ON_START=1
    # turns preload_app on, the case where the app's logging setup runs in gunicorn's master.
    env = (
        dict(os.environ, PYTHONUNBUFFERED="1")
        | stack.service_env(users, services, data_dir)
        | {"MIGRATE_ON_START": "1"}
    )
    server = subprocess.Popen(  # noqa: S602 (the command line `platform up` runs, from our code)
        f"exec {stack._gunicorn(users.module)}",
        shell=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{users.port}"
    try:
        ready = _ready(f"{base}/health/ready", server)
        if ready:
            assert requests.get(base + LONG_PATH, timeout=5).status_code == 414
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    if not ready:
        pytest.fail(f"{base}/health/ready never answered 200; gunicorn's output:\n{output}")
    return output


def _gunicorn_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if str(line["logger"]).startswith("gunicorn.")]


def test_nothing_fails_to_log(gunicorn_output: str) -> None:
    assert "Logging error" not in gunicorn_output
    assert "Traceback" not in gunicorn_output


def test_every_line_is_json(gunicorn_output: str) -> None:
    not_json = [line for line in gunicorn_output.splitlines() if not line.startswith("{")]
    assert not_json == []


@pytest.mark.parametrize(
    "start",
    [
        "Starting gunicorn",
        "Listening at",
        "Booting worker",
        "Invalid request from ip=127.0.0.1: Request Line is too large",
        "Handling signal: term",
        "Shutting down",
    ],
)
def test_gunicorn_line_is_json_in_the_services_shape(gunicorn_output: str, start: str) -> None:
    lines = [line for line in _gunicorn_lines(gunicorn_output) if line["message"].startswith(start)]
    assert lines, f"no gunicorn line starting {start!r} in:\n{gunicorn_output}"
    for line in lines:
        assert {"level", "logger", "message", "time", "service"} <= set(line)
        assert line["service"] == "users"
        assert line["logger"] == "gunicorn.error"
        assert line["time"].endswith("+00:00")
