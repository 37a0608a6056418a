"""The no-Docker gateway's configuration is compose's, and a taken port says how to move."""

import json
import socket

import pytest
import yaml

from platform_local import gateway, stack
from platform_local.services import ROOT, discover

COMPOSE_FILE = ROOT / "docker-compose.yml"


@pytest.fixture()
def static(tmp_path):
    """The static configuration `platform up` writes, as a dict (JSON is YAML)."""
    return json.loads(gateway.write_config(tmp_path, discover()).read_text())


def compose_gateway_flags() -> dict[str, str]:
    """The compose gateway's ``--name=value`` command flags."""
    command = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["gateway"]["command"]
    return dict(flag.removeprefix("--").split("=", 1) for flag in command)


def test_entry_point_middlewares_and_header_limit_are_composes(static):
    web = static["entryPoints"]["web"]["http"]
    flags = compose_gateway_flags()

    assert ",".join(web["middlewares"]) == flags["entrypoints.web.http.middlewares"]
    assert str(web["maxHeaderBytes"]) == flags["entrypoints.web.http.maxHeaderBytes"]


def test_dial_timeout_is_composes(static):
    timeouts = static["serversTransport"]["forwardingTimeouts"]
    flag = "serversTransport.forwardingTimeouts.dialTimeout"
    assert timeouts["dialTimeout"] == compose_gateway_flags()[flag]


def test_shared_file_and_the_docs_service_it_names_are_written(tmp_path):
    gateway.write_config(tmp_path, discover())
    shared = yaml.safe_load((tmp_path / "dynamic" / "middlewares.yaml").read_text())
    routes = yaml.safe_load((tmp_path / "dynamic" / "routes.yaml").read_text())

    assert shared["http"]["middlewares"]["envelope"]["errors"]["service"] == "docs"
    assert shared["http"]["routers"]["fallback"]["service"] == "docs"
    assert "docs" in routes["http"]["services"]
    # compose's own docs service is not loaded here: it would point at http://docs:8000.
    assert not (tmp_path / "dynamic" / "compose-docs.yaml").exists()


@pytest.mark.parametrize("service", discover(), ids=lambda service: service.name)
def test_each_service_is_routed_retried_and_checked_as_its_compose_labels_say(tmp_path, service):
    gateway.write_config(tmp_path, discover())
    http = yaml.safe_load((tmp_path / "dynamic" / "routes.yaml").read_text())["http"]
    compose = yaml.safe_load((ROOT / "services" / service.name / "compose.yaml").read_text())
    labels = compose["services"][service.name]["labels"]
    name, routers = service.name, f"traefik.http.routers.{service.name}"
    balancer = f"traefik.http.services.{service.name}.loadbalancer"

    assert http["routers"][name]["rule"] == labels[f"{routers}.rule"]
    assert http["routers"][f"{name}-retry"]["rule"] == labels[f"{routers}-retry.rule"]
    assert http["routers"][f"{name}-retry"]["middlewares"] == [
        labels[f"{routers}-retry.middlewares"]
    ]
    assert http["routers"][f"{name}-retry"]["service"] == name
    # One server per service here: the health check goes with a second (test_gateway_retry).
    assert "healthCheck" not in http["services"][name]["loadBalancer"]
    assert {
        key: labels[f"{balancer}.healthcheck.{key}"] for key in ("path", "interval", "timeout")
    } == gateway.HEALTH_CHECK


def test_a_taken_port_names_it_and_suggests_the_offset():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        with pytest.raises(SystemExit) as stopped:
            stack.check_ports({"gateway": port})

    assert f"{port} (gateway)" in str(stopped.value)
    assert "PLATFORM_PORT_OFFSET" in str(stopped.value)
