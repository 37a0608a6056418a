"""Idempotency-Key on POST /orders: one order per key, whatever the retries and races."""

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug import Response

from common.db import get_db, utcnow
from common.testing import assert_error
from orders_service.models import IdempotencyKey
from tests.utils.orders import ORDERS, count_keys, count_orders, order_payload
from tests.utils.users import user_body, user_path


def post(client, caller, body, key="key-1", **headers):
    headers = {**caller.headers, "Idempotency-Key": key, **headers}
    return client.post(ORDERS, json=body, headers=headers)


def test_retry_replays_the_first_response_without_a_second_order(app, client, alice, users):
    body = order_payload()
    first = post(client, alice, body)
    again = post(client, alice, body)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["data"] == first.get_json()["data"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    # The replay is a new response: its own request id, in its envelope and header.
    assert again.get_json()["meta"]["request_id"] == again.headers["X-Request-ID"]
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert count_orders(app) == 1
    assert users.asking_requests(alice.id) == {first.headers["X-Request-ID"]}


def test_same_json_written_differently_is_the_same_request(app, client, alice):
    body = order_payload()
    post(client, alice, body)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    headers = {**alice.headers, "Idempotency-Key": "key-1"}
    again = client.post(ORDERS, data=reordered, content_type="application/json", headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_orders(app) == 1


def test_quoted_key_is_the_same_key_as_the_bare_one(app, client, alice):
    body = order_payload()
    post(client, alice, body, key="abc-123")
    again = post(client, alice, body, key='"abc-123"')
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_orders(app) == 1


def test_quoted_key_may_hold_spaces_and_escaped_quotes(client, alice):
    body = order_payload()
    assert post(client, alice, body, key='"order \\"42\\" of 2026"').status_code == 201
    again = post(client, alice, body, key='"order \\"42\\" of 2026"')
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_key_with_another_payload_is_422(app, client, alice):
    post(client, alice, order_payload())
    response = post(client, alice, order_payload())
    assert_error(response, 422, "idempotency_key_reused")
    assert count_orders(app) == 1


def test_keys_belong_to_their_caller(app, client, alice, bob):
    body = order_payload()
    mine = post(client, alice, body)
    theirs = post(client, bob, body)
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["data"]["id"] != mine.get_json()["data"]["id"]
    assert theirs.get_json()["data"]["user_id"] == str(bob.id)
    assert count_orders(app) == 2


def test_without_a_key_every_post_places_an_order(app, client, alice):
    body = order_payload()
    client.post(ORDERS, json=body, headers=alice.headers)
    client.post(ORDERS, json=body, headers=alice.headers)
    assert count_orders(app) == 2
    assert count_keys(app) == 0


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "clé", "tab\there", "a,b", '""', '"unterminated', '"bad \\x escape"'],
)
def test_malformed_key_is_400_and_claims_nothing(app, client, alice, key):
    response = post(client, alice, order_payload(), key=key)
    assert_error(response, 400, "idempotency_key_invalid")
    assert count_orders(app) == count_keys(app) == 0


def test_longest_key_is_accepted(client, alice):
    assert post(client, alice, order_payload(), key="k" * 255).status_code == 201


def test_two_key_headers_are_400(client, alice):
    headers = [*alice.headers.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    response = client.post(ORDERS, json=order_payload(), headers=headers)
    assert_error(response, 400, "idempotency_key_invalid")


def test_invalid_body_releases_the_key(app, client, alice):
    assert_error(post(client, alice, {"items": []}), 422, "validation_failed")
    assert count_keys(app) == 0
    assert post(client, alice, order_payload()).status_code == 201


def test_failure_releases_the_key_so_a_retry_succeeds(app, client, stranger, users):
    body = order_payload()
    users.failing(stranger.id, 503)
    assert_error(post(client, stranger, body), 503, "users_unavailable")
    assert count_orders(app) == count_keys(app) == 0
    users.server.clear()
    users.active(stranger.id)  # users is back
    retry = post(client, stranger, body)
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert count_orders(app) == 1


def expire_claims(app):
    """Move every claim's lock into the past, as if its request died long ago."""
    with app.app_context(), get_db().engine.begin() as conn:
        conn.execute(sa.update(IdempotencyKey).values(locked_until=utcnow() - timedelta(seconds=1)))


def test_claim_of_a_failed_commit_blocks_until_it_expires_then_is_taken_over(
    app, client, alice, failing_commits
):
    body = order_payload()
    # The view ran and stored its response, but the request's commit failed: the claim, which
    # committed on its own, stays in flight with nobody to release it.
    assert_error(post(client, alice, body), 500, "internal_error")
    failing_commits.stop()
    assert count_orders(app) == 0
    blocked = post(client, alice, body)
    assert_error(blocked, 409, "idempotency_request_in_flight")
    assert blocked.headers["Retry-After"] == "1"
    expire_claims(app)
    retry = post(client, alice, body)
    assert retry.status_code == 201
    assert count_orders(app) == 1
    assert post(client, alice, body).headers["Idempotent-Replayed"] == "true"


def test_completed_key_replays_after_its_lock_time(app, client, alice):
    body = order_payload()
    first = post(client, alice, body)
    expire_claims(app)
    again = post(client, alice, body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["data"] == first.get_json()["data"]
    assert count_orders(app) == 1


def test_request_whose_claim_was_taken_over_stores_nothing(app, client, stranger, users):
    taken_by = uuid.uuid4()

    def take_over_then_answer(request):
        # While this request waits for users, another one takes its (expired) claim over.
        with app.app_context(), get_db().engine.begin() as conn:
            conn.execute(sa.update(IdempotencyKey).values(claim_id=taken_by))
        return Response(json.dumps(user_body(stranger.id)), content_type="application/json")

    users.server.expect_request(user_path(stranger.id)).respond_with_handler(take_over_then_answer)
    response = post(client, stranger, order_payload())
    assert_error(response, 409, "idempotency_request_in_flight")
    assert count_orders(app) == 0
    with app.app_context():
        claim = get_db().session.scalars(sa.select(IdempotencyKey)).one()
        assert (claim.state, claim.claim_id) == ("in_flight", taken_by)  # left to its new holder


def test_concurrent_duplicates_place_exactly_one_order(app, stranger, users):
    # Users answers slowly, so the first request is still in flight while the others arrive.
    users.active(stranger.id, delay=0.1)
    body, threads = order_payload(), 8
    start = threading.Barrier(threads)

    def send(_):
        client = app.test_client()  # one per thread: a test client is not thread-safe
        start.wait()
        return post(client, stranger, body, key="race")

    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(send, range(threads)))

    assert {r.status_code for r in responses} <= {201, 409}, [r.get_json() for r in responses]
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert len({r.get_json()["data"]["id"] for r in created}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in created) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.get_json()["error"]["code"] == "idempotency_request_in_flight"
    assert count_orders(app) == 1
    assert len(users.asking_requests(stranger.id)) == 1  # only one request did the work
