"""Every failure answers the error envelope with a real status, in tests as in production.

Each test runs twice (``any_client``): on the app built with TESTING=True and on one built with
TESTING=False, PROPAGATE_EXCEPTIONS=False; the answers must be the same.
"""

import io
import uuid

import pytest

from common.db import get_db
from tinyapp.routes import SECRET


def error_of(response, status):
    """Assert the error envelope with ``status`` and return its ``error`` object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "meta"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    return body["error"]


def assert_leaks_nothing(response):
    text = response.get_data(as_text=True)
    for fragment in (
        "Traceback",
        "RuntimeError",
        "s3cret",
        "SELECT",
        "INSERT",
        "UPDATE",
        "widgets",
        'File "',
        "sqlalchemy",
        "[SQL",
    ):
        assert fragment not in text, f"{fragment!r} leaked in {text}"


def test_unknown_url_is_404_envelope(any_client):
    error = error_of(any_client.get("/nowhere"), 404)

    assert error["code"] == "not_found"
    assert error["details"] is None


def test_wrong_method_is_405_envelope_with_allow(any_client):
    response = any_client.put("/widgets", json={"name": "x"})

    error = error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


def test_malformed_json_is_400_envelope(any_client):
    response = any_client.post("/widgets", data='{"name": "x",', content_type="application/json")

    error = error_of(response, 400)
    assert error["code"] == "bad_request"
    assert "JSON" in error["message"]


def test_wrong_content_type_is_415_envelope(any_client):
    response = any_client.post("/widgets", data="name=x", content_type="text/plain")

    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_missing_content_type_is_415_envelope(any_client):
    response = any_client.post("/widgets", data='{"name": "x"}')

    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_body_over_max_content_length_is_413_envelope(any_client, count_rows):
    limit = any_client.application.config["MAX_CONTENT_LENGTH"]
    body = '{"name": "' + "x" * limit + '"}'

    response = any_client.post("/widgets", data=body, content_type="application/json")

    assert error_of(response, 413)["code"] == "request_entity_too_large"
    assert count_rows("widgets") == 0


def post_chunked(client, body: bytes):
    """POST ``body`` without Content-Length, as a WSGI server passes a chunked request on."""
    return client.post(
        "/widgets",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        # werkzeug then ignores the Content-Length the test client computes from the stream.
        headers={"Transfer-Encoding": "chunked"},
        # gunicorn sets it: the stream ends where the body ends, so werkzeug reads it (up to
        # MAX_CONTENT_LENGTH) instead of treating a body without a length as empty.
        environ_overrides={"wsgi.input_terminated": True},
    )


def padded(document: bytes, size: int) -> bytes:
    """``document`` followed by spaces up to ``size`` bytes: valid JSON however it is cut."""
    return document + b" " * (size - len(document))


def test_chunked_body_over_max_content_length_is_413_and_stores_nothing(any_client, count_rows):
    limit = any_client.application.config["MAX_CONTENT_LENGTH"]

    # Cut at the limit, this body still parses: it used to be created from the first MiB.
    response = post_chunked(any_client, padded(b'{"name": "chunked"}', limit + 1))

    assert error_of(response, 413)["code"] == "request_entity_too_large"
    assert count_rows("widgets") == 0


def test_chunked_body_of_exactly_max_content_length_is_accepted(any_client):
    limit = any_client.application.config["MAX_CONTENT_LENGTH"]

    response = post_chunked(any_client, padded(b'{"name": "exact"}', limit))

    assert response.status_code == 201, response.get_data(as_text=True)


def test_invalid_body_is_422_with_per_field_details(any_client):
    error = error_of(any_client.post("/widgets", json={"name": ""}), 422)

    assert error["code"] == "validation_failed"
    assert set(error["details"]) == {"name"}
    assert isinstance(error["details"]["name"], list) and error["details"]["name"]


def test_missing_required_field_is_422_naming_the_field(any_client):
    error = error_of(any_client.post("/widgets", json={}), 422)

    assert set(error["details"]) == {"name"}


def test_unknown_body_field_is_422(any_client, count_rows):
    error = error_of(any_client.post("/widgets", json={"name": "x", "colour": "red"}), 422)

    assert error["code"] == "validation_failed"
    assert set(error["details"]) == {"colour"}
    assert count_rows("widgets") == 0


def test_body_that_is_not_an_object_is_422(any_client):
    error = error_of(any_client.post("/widgets", json=["name"]), 422)

    assert error["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("limit=abc", "limit"),
        ("sort=name", "sort"),
    ],
)
def test_invalid_or_unknown_query_parameter_is_422(any_client, query, field):
    error = error_of(any_client.get(f"/widgets?{query}"), 422)

    assert error["code"] == "validation_failed"
    assert set(error["details"]) == {field}


def test_not_found_raised_by_domain_code_is_404_envelope(any_client):
    error = error_of(any_client.get(f"/widgets/{uuid.uuid4()}"), 404)

    assert error == {"code": "not_found", "message": "No such widget.", "details": None}


def test_conflict_raised_by_domain_code_is_409_with_details(any_client):
    assert any_client.post("/widgets", json={"name": "dup"}).status_code == 201

    error = error_of(any_client.post("/widgets", json={"name": "dup"}), 409)

    assert error == {
        "code": "conflict",
        "message": "A widget with this name exists.",
        "details": {"name": "dup"},
    }


def test_unique_violation_at_flush_is_409_without_sql(any_client):
    any_client.post("/widgets", json={"name": "taken"})
    other = any_client.post("/widgets", json={"name": "free"}).get_json()["data"]["id"]

    response = any_client.patch(f"/widgets/{other}", json={"name": "taken"})

    assert error_of(response, 409)["code"] == "conflict"
    assert_leaks_nothing(response)


def test_unauthorized_is_401_with_www_authenticate_bearer(any_client):
    response = any_client.get("/_test/needs-token")

    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_too_many_requests_is_429_with_retry_after(any_client):
    response = any_client.get("/_test/throttled")

    assert error_of(response, 429)["code"] == "too_many_requests"
    assert response.headers["Retry-After"] == "30"


def test_dependency_unavailable_is_503_coded_after_the_dependency(any_client):
    error = error_of(any_client.get("/_test/calls-users"), 503)

    assert error["code"] == "users_unavailable"
    assert "users" in error["message"]


def test_unhandled_exception_is_500_envelope_without_trace_or_message(any_client):
    response = any_client.get("/_test/boom")

    error = error_of(response, 500)
    assert error == {
        "code": "internal_error",
        "message": "The server could not complete the request.",
        "details": None,
    }
    assert SECRET not in response.get_data(as_text=True)
    assert_leaks_nothing(response)


def test_sqlalchemy_error_is_500_envelope_without_sql(any_client):
    response = any_client.get("/_test/bad-statement")

    assert error_of(response, 500)["code"] == "internal_error"
    assert_leaks_nothing(response)


def test_deeply_nested_json_is_400_not_500(any_client):
    limit = any_client.application.config["MAX_CONTENT_LENGTH"]
    depth = min(100_000, limit - 1)  # deeper than any recursion limit, under the size limit
    assert depth > 10_000

    response = any_client.post("/widgets", data="[" * depth, content_type="application/json")

    assert error_of(response, 400)["code"] == "bad_request"


def test_deeply_nested_json_over_100k_is_refused_not_500(app_factory, database_url, app):
    big = app_factory({"SQLALCHEMY_DATABASE_URI": database_url, "MAX_CONTENT_LENGTH": 1024 * 1024})
    try:
        response = big.test_client().post(
            "/widgets", data="[" * 100_000, content_type="application/json"
        )
        assert error_of(response, 400)["code"] == "bad_request"
    finally:
        with big.app_context():
            get_db().engine.dispose()


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\u0000b"}',  # U+0000: PostgreSQL text cannot hold it (SQLite can)
        b'{"name": "\\ud800"}',  # an unpaired surrogate, escaped: not Unicode text
        b'{"name": "\xed\xa0\x80"}',  # the same, encoded (CESU-8, which UTF-8 is not)
        b'{"name": "x", "\\udc00": 1}',  # in a key
        b'{"name": ["x", {"deep": "\\u0000"}]}',  # anywhere in the document
    ],
)
def test_json_string_with_nul_or_lone_surrogate_is_400_not_500(any_client, count_rows, body):
    response = any_client.post("/widgets", data=body, content_type="application/json")

    error = error_of(response, 400)
    assert error["code"] == "bad_request"
    assert "U+0000" in error["message"]
    assert count_rows("widgets") == 0


def test_json_string_with_a_surrogate_pair_is_text(any_client):
    body = b'{"name": "\\ud83d\\ude00"}'

    response = any_client.post("/widgets", data=body, content_type="application/json")

    assert response.status_code == 201
    assert response.get_json()["data"]["name"] == "\U0001f600"


def test_query_value_with_nul_is_422_not_500(any_client):
    error = error_of(any_client.get("/widgets?limit=5&name=a%00b"), 422)

    assert error["details"] == {"name": ["Must not contain U+0000."]}


def test_error_responses_are_identical_in_testing_and_production(app, production_app):
    def answer(flask_app, method, path, **kw):
        response = getattr(flask_app.test_client(), method)(path, **kw)
        body = response.get_json()
        return response.status_code, body["error"], response.mimetype

    cases = [
        ("get", "/nowhere", {}),
        ("get", "/_test/boom", {}),
        ("get", "/_test/bad-statement", {}),
        ("post", "/widgets", {"data": "{", "content_type": "application/json"}),
        ("post", "/widgets", {"json": {"nope": 1}}),
        ("post", "/_test/add-then-raise", {"json": {"name": "z"}}),
    ]
    for method, path, kw in cases:
        assert answer(app, method, path, **kw) == answer(production_app, method, path, **kw)


def test_error_reads_the_unread_body_to_the_end(app):
    """A 413 leaves no unread bytes on the connection (gunicorn would close it, and a gateway
    reusing it would answer 502)."""
    import io

    body = b" " * (app.config["MAX_CONTENT_LENGTH"] + 100_000)
    stream = io.BytesIO(body)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/widgets",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": stream,
    }
    statuses = []
    app.wsgi_app(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["413 REQUEST ENTITY TOO LARGE"]
    assert stream.tell() == len(body)


def test_error_reads_an_unread_chunked_body_to_the_end(app):
    """The same without Content-Length: the 413 read the first MiB only, the rest is read too
    (through the gateway, 3 MiB chunked bodies made 1 request in 10 after them answer 502)."""
    body = b"{}" + b" " * (app.config["MAX_CONTENT_LENGTH"] + 100_000)
    stream = io.BytesIO(body)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/widgets",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": stream,
        "wsgi.input_terminated": True,
    }
    statuses = []
    app.wsgi_app(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["413 REQUEST ENTITY TOO LARGE"]
    assert stream.tell() == len(body)
