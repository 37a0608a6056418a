"""`platform new-service` on a copy of the repository: wired everywhere, tested, served, undone."""

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from platform_local import consistency, newservice
from platform_local.gateway import PORTS

NAME = "payments"
CLI = [sys.executable, "-m", "platform_local.cli"]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_next_free_port_follows_the_highest_service_port_and_skips_used_ones():
    assert newservice.next_free_port({8001, 8003}, {8001, 8003, 8080}) == 8004
    assert newservice.next_free_port({8078, 8079}, {8078, 8079, 8080, 8081}) == 8082
    assert newservice.next_free_port(set(), {8080}) == 8001


def test_new_service_wires_it_everywhere_and_remove_service_undoes_exactly_that(repo, capsys):
    before = snapshot(repo)
    assert newservice.new_service(repo, NAME) == 0
    out = capsys.readouterr().out
    assert "services/payments/src/payments_service/resources/payments.py" in out
    assert "tox -e payments" in out
    assert consistency.problems(repo) == []
    # The uv workspace takes services/* in; uv.lock now lists it (the lock is still current).
    assert 'name = "payments-service"' in (repo / "uv.lock").read_text()
    assert "  uv.lock" in out
    assert newservice.service_ports(repo)[NAME] == max(newservice.service_ports(repo).values())
    # Outside its own folders, one line in each of three files (deploy/local/README.md) and the
    # regenerated uv.lock; tox finds it by its folder (toxfile.py), so tox.ini is not one of them.
    after = snapshot(repo)
    own = (
        f"services/{NAME}/",
        f"deploy/k8s/base/{NAME}/",
        f"deploy/k8s/overlays/dev/services/{NAME}/",
    )
    shared = {path for path in after if before.get(path) != after[path]}
    assert {path for path in shared if not path.startswith(own)} == {
        "docker-compose.yml",
        "deploy/k8s/base/kustomization.yaml",
        "deploy/k8s/overlays/dev/kustomization.yaml",
        "uv.lock",
    }
    for place in consistency.PLACES:
        if place.applies(repo):
            assert NAME in place.names(repo), place
    assert newservice.remove_service(repo, NAME, confirmed=True) == 0
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("users", {}, "services/users already exists"),
        ("Payments", {}, "2 to 30 lowercase letters"),
        ("json", {}, "Python keyword or module"),  # a standard-library module
        ("lint", {}, "Python keyword or module"),  # a tox env
        ("docs", {}, "Python keyword or module"),  # a package that is not a service
        ("pages", {}, '"page" is a Python keyword or a name the generated code'),
        (NAME, {"port": 8001}, "port 8001 is taken"),
        (NAME, {"port": PORTS["gateway"]}, f"port {PORTS['gateway']} is taken"),
    ],
)
def test_new_service_refuses_and_leaves_the_repository_untouched(
    repo, capsys, name, options, message
):
    before = snapshot(repo)
    assert newservice.new_service(repo, name, **options) == 1
    assert message in capsys.readouterr().err
    assert snapshot(repo) == before


def test_new_service_refuses_over_files_a_removed_service_left(repo, capsys):
    (repo / "deploy/k8s/base" / NAME).mkdir()
    assert newservice.new_service(repo, NAME) == 1
    assert f"deploy/k8s/base/{NAME}" in capsys.readouterr().err
    assert not (repo / "services" / NAME).exists()


# --- slow: the generated service's own tests, then the whole platform with it ----------------


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded by ``timeout``); fail the test with its output."""
    result = subprocess.run(command, capture_output=True, text=True, check=False, **options)  # noqa: S603
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset(ports: list[int]) -> int:
    """A PLATFORM_PORT_OFFSET that puts every port of the platform on a free one."""
    for _ in range(50):
        offset = random.randrange(20_000, 50_000, 10)
        if all(_free(port + offset) for port in ports):
            return offset
    raise RuntimeError("no free range of ports found")


def wait_for(check: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``check`` for up to 180 s while ``process`` runs; fail with its log otherwise."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"not ready (exit status {process.poll()}):\n{log.read_text()[-6000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a developer would; kill the process group if it has not stopped in 60 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.mark.slow
def test_a_new_service_passes_its_tests_and_joins_the_running_platform(repo, tmp_path):
    env = {**os.environ, "PLATFORM_ROOT": str(repo)}
    started = time.monotonic()
    run([*CLI, "new-service", NAME], env=env, cwd=repo, timeout=300)
    service = repo / "services" / NAME
    # The current interpreter has common and its test extra; the new package comes from the
    # copy through PYTHONPATH, so nothing is installed into this environment. Its hardening test
    # runs at the quick depth: that it passes is the point here; its full run is its own CI's.
    tests = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        env={**env, "PYTHONPATH": str(service / "src"), "HARDENING_EXAMPLES": "quick"},
        cwd=service,
        timeout=600,
    )
    assert " passed" in tests.stdout
    print(f"\nnew-service to green tests: {time.monotonic() - started:.1f} s")

    ports = [*newservice.service_ports(repo).values(), 8080, *list(PORTS.values())[1:]]
    offset = free_offset(ports)
    sources = [*sorted((repo / "services").glob("*/src")), repo / "deploy/docs/src"]
    env |= {
        "PLATFORM_PORT_OFFSET": str(offset),
        "GATEWAY_PORT": "8080",
        "PYTHONPATH": os.pathsep.join(str(path) for path in sources),
    }
    gateway = f"http://127.0.0.1:{8080 + offset}"
    direct = f"http://127.0.0.1:{newservice.service_ports(repo)[NAME] + offset}"
    log = tmp_path / "platform.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603
            [*CLI, "up", "--data-dir", str(tmp_path / "data")],
            env=env,
            cwd=repo,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that it can be stopped whole
        )
    try:
        url = f"{gateway}/api/v1/{NAME}"
        wait_for(lambda: requests.get(url, timeout=5).status_code == 401, process, log)
        answer = requests.get(url, timeout=5)
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.json()["meta"]["request_id"] == answer.headers["X-Request-ID"]

        def documented() -> bool:
            spec = requests.get(f"{gateway}/apidocs/openapi.json", timeout=10)
            return spec.status_code == 200 and f"/api/v1/{NAME}" in spec.json()["paths"]

        wait_for(documented, process, log)
        assert (
            f"/api/v1/{NAME}/{{payment_id}}"
            in requests.get(f"{gateway}/apidocs/openapi.json", timeout=10).json()["paths"]
        )
        assert requests.get(f"{direct}/health/ready", timeout=5).status_code == 200
    finally:
        stop(process)
    assert process.returncode is not None
