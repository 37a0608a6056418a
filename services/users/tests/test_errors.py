"""Every framework-level error on the users service answers in the envelope with a request id."""

import pytest
from flask_restful import Resource

from common.testing import assert_error
from tests.utils.users import USERS, user_payload


def test_unknown_url_is_404(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_with_allow(client):
    response = client.put(USERS, json={})  # routing answers before any token check
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_malformed_json_is_400(client, admin):
    response = client.post(USERS, data="{not json", content_type="application/json", headers=admin)
    body = assert_error(response, 400, "bad_request")
    assert "JSON" in body["error"]["message"]


def test_wrong_content_type_is_415(client, admin):
    response = client.post(USERS, data="email=a@b.c", content_type="text/plain", headers=admin)
    assert_error(response, 415, "unsupported_media_type")


def test_oversized_body_is_413(client, app, admin):
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post(USERS, json=user_payload(name="x" * too_big), headers=admin)
    assert_error(response, 413, "request_entity_too_large")


def test_incoming_request_id_is_echoed(client):
    response = client.get("/api/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.get_json()["meta"]["request_id"] == "abc-123"


@pytest.fixture()
def broken_client(app_factory, app_config):
    """The real users app plus one route whose handler has a bug."""

    class Broken(Resource):
        def get(self):
            raise RuntimeError("SELECT secret FROM users -- internal detail")

    app = app_factory(app_config)
    app.add_url_rule("/api/v1/users-broken", view_func=Broken.as_view("broken"))
    return app.test_client()


def test_unhandled_exception_is_500_without_details(broken_client):
    response = broken_client.get("/api/v1/users-broken")
    body = assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "secret" not in text
    assert "Traceback" not in text
    assert body["error"]["details"] is None
