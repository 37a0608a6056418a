"""`platform up`'s events processes: which run, what they run, where their events travel."""

from pathlib import Path

import pytest

from platform_local import stack
from platform_local.services import ROOT, Service, discover

REGISTERS = '''"""Handles one type."""
from common.events import Event, Handlers

handlers = Handlers()


@handlers.on("users.user.deleted.v1")
def user_deleted(event: Event) -> None:
    """Nothing to do."""
'''
# What a new service's handlers.py is: an example in its docstring, no handler registered.
EXAMPLE_ONLY = '''"""None yet, e.g.::

    @handlers.on("users.user.deleted.v1")
    def user_deleted(event): ...
"""
from common.events import Handlers

handlers = Handlers()
'''


def service(tmp_path: Path, *, events: bool, handlers: str | None) -> Service:
    """A service folder with the given events.py and handlers.py."""
    package = tmp_path / "services" / "widgets" / "src" / "widgets_service"
    package.mkdir(parents=True)
    if events:
        (package / "events.py").write_text('"""None yet."""\n')
    if handlers is not None:
        (package / "handlers.py").write_text(handlers)
    return Service("widgets", 9001, tmp_path / "services" / "widgets")


@pytest.mark.parametrize(
    ("events", "handlers", "expected"),
    [
        (True, REGISTERS, ["widgets-relay", "widgets-consumer"]),
        (True, EXAMPLE_ONLY, ["widgets-relay"]),
        (False, REGISTERS, ["widgets-consumer"]),
        (False, None, []),
    ],
)
def test_a_relay_with_events_py_and_a_consumer_once_a_handler_is_registered(
    tmp_path, events, handlers, expected
):
    assert list(stack.events_processes(service(tmp_path, events=events, handlers=handlers))) == (
        expected
    )


def test_the_processes_run_the_events_commands_once_their_service_answers(tmp_path):
    processes = stack.events_processes(service(tmp_path, events=True, handlers=REGISTERS))
    wait = "-m platform_local.wait http://127.0.0.1:9001/health/ready && exec "
    assert wait in processes["widgets-relay"]
    assert processes["widgets-relay"].endswith("-m flask --app widgets_service events relay")
    assert processes["widgets-consumer"].endswith("-m flask --app widgets_service events consume")


def test_the_repository_runs_a_relay_per_events_py_and_a_consumer_per_registered_handlers():
    names = [name for s in discover(ROOT) for name in stack.events_processes(s)]
    for found in discover(ROOT):
        package = found.folder / "src" / found.module
        assert (f"{found.name}-relay" in names) == (package / "events.py").is_file()
        assert (f"{found.name}-consumer" in names) == ("@handlers.on(" in _code(package))
    assert names  # the example services publish and consume


def _code(package: Path) -> str:
    handlers = package / "handlers.py"
    return handlers.read_text() if handlers.is_file() else ""


def test_without_broker_url_every_process_shares_one_folder_under_the_data_dir(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("BROKER_URL", raising=False)
    monkeypatch.delenv("EVENTS_FOLDER", raising=False)
    services = discover(ROOT)
    envs = [stack.service_env(s, services, tmp_path) for s in services]
    assert {env["EVENTS_FOLDER"] for env in envs} == {str(tmp_path / "events")}
    assert not any("BROKER_URL" in env for env in envs)
    assert "filesystem transport" in stack.events_mode(tmp_path)


def test_broker_url_from_the_environment_replaces_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BROKER_URL", "amqp://guest:secret@127.0.0.1:5672//")
    env = stack.service_env(discover(ROOT)[0], discover(ROOT), tmp_path)
    assert env["BROKER_URL"] == "amqp://guest:secret@127.0.0.1:5672//"
    assert "EVENTS_FOLDER" not in env
    assert stack.events_mode(tmp_path) == "events: RabbitMQ (BROKER_URL)"  # no password shown


def test_every_service_gets_the_urls_another_declares(tmp_path):
    # auth declares AUTH_JWKS_URL ([tool.platform] urls); nothing in stack.py names a service.
    services = [
        Service("auth", 9003, tmp_path, {"AUTH_JWKS_URL": "/api/v1/auth/jwks.json"}),
        Service("billing", 9004, tmp_path),
    ]
    for service in services:
        env = stack.service_env(service, services, tmp_path)
        assert env["AUTH_JWKS_URL"] == "http://127.0.0.1:9003/api/v1/auth/jwks.json"
        assert env["BILLING_URL"] == "http://127.0.0.1:9004"


def test_the_urls_come_from_the_pyproject():
    [auth] = [s for s in discover(ROOT) if s.name == "auth"]
    assert auth.urls == {"AUTH_JWKS_URL": "/api/v1/auth/jwks.json"}


def test_a_service_gets_its_own_settings_and_the_callers_environment_wins(tmp_path, monkeypatch):
    [auth] = [s for s in discover(ROOT) if s.name == "auth"]
    [users] = [s for s in discover(ROOT) if s.name == "users"]
    monkeypatch.delenv("AUTH_DEV_KEY_FILE", raising=False)
    monkeypatch.setenv("AUTH_ADMIN_EMAILS", "root@example.com")
    env = stack.service_env(auth, [auth, users], tmp_path)
    assert env["AUTH_DEV_KEY_FILE"] == str(tmp_path / "auth-signing-key.pem")
    assert env["AUTH_ADMIN_EMAILS"] == "root@example.com"
    assert "AUTH_DEV_KEY_FILE" not in stack.service_env(users, [auth, users], tmp_path)
