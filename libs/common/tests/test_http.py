"""common.http.ServiceClient against a real local HTTP server (pytest-httpserver).

The orders service's tests cover a dependency through the service (request id and token passed
on, failures as 503 with nothing stored); these pin the client's own rules.
"""

import pytest
from pytest_httpserver import HTTPServer

from common.errors import DependencyUnavailable
from common.http import ServiceClient


@pytest.fixture()
def dependency(httpserver: HTTPServer) -> ServiceClient:
    return ServiceClient("users", httpserver.url_for("/"), read_timeout=0.5, retries=1, backoff=0)


def test_a_get_answered_503_is_retried(dependency, httpserver):
    httpserver.expect_ordered_request("/thing").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/thing").respond_with_json({"ok": True})
    assert dependency.get("/thing").json() == {"ok": True}


def test_a_post_is_never_replayed(dependency, httpserver):
    httpserver.expect_request("/things", method="POST").respond_with_data("busy", status=503)
    with pytest.raises(DependencyUnavailable) as raised:
        dependency.post("/things", json={})
    assert raised.value.code_text == "users_unavailable"
    assert len(httpserver.log) == 1


def test_a_4xx_is_the_callers_to_interpret(dependency, httpserver):
    httpserver.expect_request("/missing").respond_with_json({"error": "nope"}, status=404)
    assert dependency.get("/missing").status_code == 404


def test_a_refused_connection_is_dependency_unavailable():
    with pytest.raises(DependencyUnavailable):
        ServiceClient("users", "http://127.0.0.1:9", retries=0).get("/thing")


def test_proxy_variables_do_not_capture_calls_between_services(dependency, httpserver, monkeypatch):
    # A proxy that does not exist: a client that honoured it could not answer.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    httpserver.expect_request("/thing").respond_with_json({"ok": True})
    assert dependency.get("/thing").json() == {"ok": True}
