"""The consistency check: the repository passes; a missing or a stale entry anywhere fails it."""

import re
import shutil

import pytest

from platform_local import consistency, newservice
from platform_local.consistency import PLACES, Files, TextPlace
from platform_local.services import ROOT

SERVICE = "orders"  # an existing service the copies lose or keep
GHOST = "ghost"  # a service without a folder


def places(kind: type) -> list[pytest.param]:
    """Every place of ``kind`` that the repository has, with a readable test id."""
    return [
        pytest.param(place, id=f"{place.path}:{place.what}")
        for place in PLACES
        if isinstance(place, kind) and place.applies(ROOT)
    ]


def test_the_repository_is_consistent():
    assert consistency.problems(ROOT) == []


def test_every_place_lists_every_service():
    for place in PLACES:
        if place.applies(ROOT):
            assert set(consistency.service_names(ROOT)) <= set(place.names(ROOT)), place


@pytest.mark.parametrize("place", places(TextPlace))
def test_a_service_missing_from_a_place_fails_naming_both(repo, edit, place):
    edit(place.path, lambda text: place.remove(text, SERVICE))
    assert place.missing(SERVICE) in consistency.problems(repo)


@pytest.mark.parametrize("place", places(Files))
def test_a_service_missing_its_file_fails_naming_it(repo, place):
    path = place.of(repo, SERVICE)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    assert consistency.problems(repo) == [place.missing(SERVICE)]


@pytest.mark.parametrize("place", places(TextPlace))
def test_a_stale_entry_fails_naming_it(repo, edit, place):
    services = consistency.service_names(repo)
    edit(place.path, lambda text: place.add(text, GHOST, services))
    assert place.stale(GHOST) in consistency.problems(repo)


@pytest.mark.parametrize("place", places(Files))
def test_a_stale_file_fails_naming_it(repo, place):
    copy = shutil.copytree if place.of(repo, SERVICE).is_dir() else shutil.copy
    copy(place.of(repo, SERVICE), place.of(repo, GHOST))
    assert consistency.problems(repo) == [place.stale(GHOST)]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "PathPrefix(`/api/v1/orders`)",
            "PathPrefix(`/api/v1/order`)",
            "orders lacks the label traefik.http.routers.orders.rule: PathPrefix(`/api/v1/orders`)",
        ),
        ('traefik.enable: "true"', 'traefik.enable: "false"', "lacks the label traefik.enable"),
        # The gateway's retry rule, its middleware and the health check: gateway.docker_labels.
        (
            "|| Method(`PUT`)",
            "|| Method(`PATCH`)",
            "orders lacks the label traefik.http.routers.orders-retry.rule: PathPrefix(",
        ),
        ("-retry.middlewares: retry@file", "-retry.middlewares: secure@file", "-retry.middlewares"),
        ("healthcheck.interval: 1s", "healthcheck.interval: 30s", "healthcheck.interval: 1s"),
        ("healthcheck.path: /health/serving", "healthcheck.path: /health/live", "healthcheck.path"),
        # Replicas: nothing that two containers of one service cannot share.
        (
            "    image: platform/orders:${TAG:-dev}\n    environment:\n      DATABASE_URL",
            "    image: platform/orders:${TAG:-dev}\n    ports: ['8002:8000']\n"
            "    environment:\n      DATABASE_URL",
            "orders sets ports: it cannot run as several replicas",
        ),
        (
            "  orders-relay:\n",
            "  orders-relay:\n    container_name: orders-relay\n",
            "orders-relay sets container_name: it cannot run as several replicas",
        ),
        ("  orders-db:\n", "  orders-database:\n", "no service orders-db"),
        ("{condition: service_healthy}", "{condition: service_started}", "does not wait"),
        ("service: database}", "service: service}", "orders-db has no healthcheck"),
    ],
)
def test_a_compose_file_without_database_health_or_route_fails(repo, edit, old, new, problem):
    edit("services/orders/compose.yaml", lambda text: text.replace(old, new, 1))
    assert [p for p in consistency.problems(repo) if problem in p], consistency.problems(repo)


@pytest.mark.parametrize(
    ("port", "owner"), [(8001, "services/users"), (8080, "the gateway"), (8090, "the docs")]
)
def test_a_port_taken_twice_fails(repo, edit, port, owner):
    edit(
        "services/orders/pyproject.toml", lambda text: re.sub(r"port = \d+", f"port = {port}", text)
    )
    [problem] = consistency.problems(repo)
    assert f"[tool.platform] port {port} is taken by" in problem
    assert "services/orders" in problem
    assert owner in problem


def test_a_service_folder_without_pyproject_fails(repo):
    (repo / "services" / GHOST).mkdir()
    assert f"services/{GHOST}/: no pyproject.toml" in consistency.problems(repo)


def test_a_deleted_service_folder_fails_naming_every_place_left(repo):
    shutil.rmtree(repo / "services" / SERVICE)
    found = consistency.problems(repo)
    assert "docker-compose.yml: include for orders, which has no folder services/orders/" in found
    assert {p.split(":")[0] for p in found} == {
        "docker-compose.yml",
        "deploy/k8s/base/kustomization.yaml",
        "deploy/k8s/overlays/dev/kustomization.yaml",
        "deploy/k8s/base/orders/",
        "deploy/k8s/overlays/dev/services/orders/",
    }


def test_remove_service_lists_first_then_leaves_a_consistent_repository(repo, capsys):
    assert newservice.remove_service(repo, SERVICE, confirmed=False) == 1
    assert (repo / "services" / SERVICE).is_dir()  # listed, not done
    assert "services/orders/compose.yaml" in capsys.readouterr().out
    assert newservice.remove_service(repo, SERVICE, confirmed=True) == 0
    assert not (repo / "services" / SERVICE).exists()
    assert consistency.problems(repo) == []
    for place in PLACES:
        if place.applies(repo):
            assert SERVICE not in place.names(repo), place


def test_remove_service_finishes_a_half_done_removal(repo):
    shutil.rmtree(repo / "services" / SERVICE)
    assert newservice.remove_service(repo, SERVICE, confirmed=True) == 0
    assert consistency.problems(repo) == []


def test_remove_service_refuses_what_is_no_service(repo, capsys):
    assert newservice.remove_service(repo, "docs", confirmed=True) == 1
    assert newservice.remove_service(repo, GHOST, confirmed=True) == 1
    assert consistency.problems(repo) == []


RELAY_DB = (
    "postgresql+psycopg://orders:${ORDERS_DB_PASSWORD:-${DB_PASSWORD:?}}@orders-db:5432/orders"
    "\n    depends"
)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("  orders-relay:\n", "  orders-sender:\n", "no service orders-relay (it has events.py)"),
        (
            "  orders-consumer:\n",
            "  orders-handler:\n",
            "no service orders-consumer (its handlers.py registers handlers)",
        ),
        ("service: relay}", "service: consumer}", "orders-relay does not run `flask events relay`"),
        (
            RELAY_DB,
            RELAY_DB.replace("/orders\n", "/users\n"),
            "orders-relay has not the DATABASE_URL of orders",
        ),
        (
            "image: platform/orders:${TAG:-dev}\n    environment:\n"
            "      OTEL_SERVICE_NAME: orders-relay",
            "image: platform/users:${TAG:-dev}\n    environment:\n"
            "      OTEL_SERVICE_NAME: orders-relay",
            "orders-relay does not run the image of orders",
        ),
    ],
)
def test_a_compose_file_without_its_relay_or_consumer_fails(repo, edit, old, new, problem):
    edit("services/orders/compose.yaml", lambda text: text.replace(old, new, 1))
    assert [p for p in consistency.problems(repo) if problem in p], consistency.problems(repo)


def test_a_consumer_for_a_service_without_handlers_fails(repo, edit):
    edit(
        "services/orders/src/orders_service/handlers.py",
        lambda text: text.replace("@handlers.on(", "@handlers_on("),
    )
    found = consistency.problems(repo)
    assert any("orders-consumer, but not its handlers.py registers handlers" in p for p in found)
    assert any("consumer.yaml in resources, but not its handlers.py" in p for p in found)


def test_kubernetes_events_without_the_relay_fail(repo, edit):
    edit(
        "deploy/k8s/base/orders/events/kustomization.yaml",
        lambda text: text.replace("  - relay.yaml\n", ""),
    )
    assert consistency.problems(repo) == [
        "deploy/k8s/base/orders/events/kustomization.yaml: no relay.yaml in resources"
        " (it has events.py)"
    ]
