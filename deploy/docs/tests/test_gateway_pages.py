"""The pages the gateway answers with itself: no route, and its errors in the envelope."""

import pytest


@pytest.fixture()
def client(make_app, closed_url):
    """A docs app whose discovery is never asked: these pages need none."""
    return make_app(DOCS_SERVICES=f"users={closed_url}").test_client()


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "OPTIONS"])
def test_no_route_is_a_404_envelope_for_any_method(client, method):
    response = client.open("/gateway/no-route", method=method)

    assert response.status_code == 404
    body = response.get_json()
    assert body["error"]["code"] == "no_route"
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (414, "request_uri_too_long"),
        (431, "request_header_fields_too_large"),
        (502, "bad_gateway"),
        (504, "gateway_timeout"),
    ],
)
def test_error_page_answers_the_envelope_of_its_status(client, status, code):
    response = client.get(f"/gateway/errors/{status}")

    assert response.status_code == status
    assert response.content_type == "application/json"
    assert response.get_json()["error"]["code"] == code


def test_error_page_keeps_the_callers_request_id(client):
    # The gateway forwards only X-Request-ID to the page (errorRequestHeaders).
    response = client.get("/gateway/errors/431", headers={"X-Request-ID": "edge-1"})

    assert response.headers["X-Request-ID"] == "edge-1"
    assert response.get_json()["meta"]["request_id"] == "edge-1"


@pytest.mark.parametrize("status", [400, 404, 413, 500, 503])
def test_statuses_services_answer_themselves_have_no_page(client, status):
    response = client.get(f"/gateway/errors/{status}")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
