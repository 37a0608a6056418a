"""The success envelope, Page/Envelope meta, 204, and the X-Request-ID round trip."""

import re

import pytest

UUID_HEX = re.compile(r"[0-9a-f]{32}")


def test_success_body_is_data_and_meta(client):
    response = client.post("/widgets", json={"name": "bolt"})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"data", "meta"}
    assert body["data"]["name"] == "bolt"
    assert set(body["data"]) == {"id", "name"}


def test_meta_request_id_equals_x_request_id_header(client):
    response = client.get("/widgets")

    assert response.get_json()["meta"]["request_id"] == response.headers["X-Request-ID"]


def test_error_meta_request_id_equals_x_request_id_header(client):
    response = client.get("/no-such-thing")

    assert response.status_code == 404
    assert response.get_json()["meta"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/widgets", "/no-such-thing", "/health/live"])
def test_content_type_is_application_json(client, path):
    response = client.get(path)

    assert response.mimetype == "application/json"


def test_view_returned_status_and_headers_are_kept(client):
    response = client.post("/widgets", json={"name": "nut"})

    assert response.status_code == 201
    assert response.headers["Location"] == f"/widgets/{response.get_json()['data']['id']}"


def test_page_meta_has_total_limit_offset(client):
    for name in ("a", "b", "c", "d", "e"):
        assert client.post("/widgets", json={"name": name}).status_code == 201

    body = client.get("/widgets?limit=2&offset=1").get_json()

    assert [w["name"] for w in body["data"]] == ["b", "c"]
    assert body["meta"] == {
        "request_id": body["meta"]["request_id"],
        "total": 5,
        "limit": 2,
        "offset": 1,
    }


def test_page_defaults_apply_when_query_is_empty(client):
    body = client.get("/widgets").get_json()

    assert body["data"] == []
    assert (body["meta"]["total"], body["meta"]["limit"], body["meta"]["offset"]) == (0, 20, 0)


def test_envelope_extra_meta_is_merged_with_request_id(client):
    response = client.get("/_test/ping")

    body = response.get_json()
    assert body["data"] == {"pong": True}
    assert body["meta"] == {"request_id": response.headers["X-Request-ID"], "note": "no database"}


def test_no_content_response_has_no_body(client):
    widget_id = client.post("/widgets", json={"name": "gone"}).get_json()["data"]["id"]

    response = client.delete(f"/widgets/{widget_id}")

    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"/widgets/{widget_id}").status_code == 404


@pytest.mark.parametrize(
    "incoming", ["abc-123", "req.42:retry_1", "A" * 128, "0f5d7c3e-61a4-4d2b-9d1e-7c7c7c7c7c7c"]
)
def test_valid_incoming_request_id_is_echoed(client, incoming):
    response = client.get("/widgets", headers={"X-Request-ID": incoming})

    assert response.headers["X-Request-ID"] == incoming
    assert response.get_json()["meta"]["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["A" * 129, "has space", "line\nbreak", "trailing\n", "-leading-dash", "semi;colon", "é"],
    ids=[
        "too-long",
        "space",
        "newline",
        "trailing-newline",
        "leading-dash",
        "semicolon",
        "non-ascii",
    ],
)
def test_invalid_incoming_request_id_is_replaced_by_a_generated_one(client, incoming):
    # Through the WSGI environ: the test client's header API refuses newlines itself.
    response = client.get("/widgets", environ_overrides={"HTTP_X_REQUEST_ID": incoming})

    rid = response.headers["X-Request-ID"]
    assert rid != incoming
    assert UUID_HEX.fullmatch(rid)
    assert response.get_json()["meta"]["request_id"] == rid


def test_missing_request_id_is_generated_per_request(client):
    first = client.get("/widgets").headers["X-Request-ID"]
    second = client.get("/widgets").headers["X-Request-ID"]

    assert UUID_HEX.fullmatch(first) and UUID_HEX.fullmatch(second)
    assert first != second
