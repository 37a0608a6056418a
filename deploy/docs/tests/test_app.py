"""The factory and the health probes."""

from platform_docs import create_app


def test_factory_reads_overrides(closed_url):
    app = create_app({"TESTING": True, "DOCS_SERVICES": f"users={closed_url}"})
    assert app.testing
    assert app.config["SERVICE_NAME"] == "docs"


def test_liveness_needs_nothing_else(make_app, closed_url):
    response = make_app(DOCS_TRAEFIK_API=closed_url).test_client().get("/health/live")
    assert response.status_code == 200
    assert response.get_json()["data"] == {"status": "ok"}


def test_ready_when_discovery_answers_even_if_a_service_is_down(make_app, traefik, closed_url):
    app = make_app(DOCS_TRAEFIK_API=traefik({"users": closed_url}))
    response = app.test_client().get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["data"] == {
        "status": "ok",
        "checks": {"discovery": "ok"},
        "services": 1,
    }


def test_not_ready_without_the_gateway_api(make_app, closed_url):
    response = make_app(DOCS_TRAEFIK_API=closed_url).test_client().get("/health/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"]["code"] == "gateway_unavailable"
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


def test_an_unknown_url_is_a_404_envelope(make_app, closed_url):
    response = make_app(DOCS_SERVICES=f"users={closed_url}").test_client().get("/apidocs/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_not_ready_while_gunicorn_drains(make_app, traefik, closed_url, tmp_path, monkeypatch):
    # deploy/gunicorn.conf.py creates this file on the first SIGTERM (common.health).
    marker = tmp_path / "draining"
    monkeypatch.setenv("SHUTDOWN_DRAIN_FILE", str(marker))
    client = make_app(DOCS_TRAEFIK_API=traefik({"users": closed_url})).test_client()
    assert client.get("/health/ready").status_code == 200
    marker.touch()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "shutting_down"
    assert client.get("/health/live").status_code == 200
