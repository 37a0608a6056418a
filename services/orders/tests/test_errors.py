"""Every framework-level error on the orders service answers in the envelope with a request id."""

from common.testing import assert_error
from tests.utils.orders import ORDERS, order_payload


def test_unknown_url_is_404(client):
    assert_error(client.get("/api/v1/orders-nothing-here"), 404, "not_found")


def test_wrong_method_is_405_with_allow(client, alice):
    response = client.delete(ORDERS, headers=alice.headers)
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_malformed_json_is_400(client, alice):
    response = client.post(
        ORDERS, data="{not json", content_type="application/json", headers=alice.headers
    )
    body = assert_error(response, 400, "bad_request")
    assert "JSON" in body["error"]["message"]


def test_wrong_content_type_is_415(client, alice):
    response = client.post(ORDERS, data="items=1", content_type="text/plain", headers=alice.headers)
    assert_error(response, 415, "unsupported_media_type")


def test_oversized_body_is_413(client, app, alice):
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post(ORDERS, json=order_payload(note="x" * too_big), headers=alice.headers)
    assert_error(response, 413, "request_entity_too_large")


def test_incoming_request_id_is_echoed(client, alice):
    response = client.get(f"{ORDERS}?bogus=1", headers={**alice.headers, "X-Request-ID": "abc-1"})
    assert_error(response, 422, "validation_failed")
    assert response.headers["X-Request-ID"] == "abc-1"
