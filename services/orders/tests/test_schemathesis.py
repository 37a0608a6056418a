"""Property-based hardening: generated, boundary and malformed requests against the orders spec.

schemathesis reads ``/apispec.json`` from the app in-process and sends every operation the
spec's examples, its coverage cases (boundaries, missing, wrong-typed and unknown fields, wrong
methods) and fuzzed ones, with common.testing's seed and checks: never a 5xx, always a documented
status, content type and body, and every request the spec forbids refused with a 4xx.

The caller is a user whose account the users stand-in reports active, so orders get placed and
then read and cancelled. ``pytest -m hardening`` runs only this; ``HARDENING_EXAMPLES=quick``
sends fewer.
"""

import uuid

import pytest
import schemathesis

pytestmark = pytest.mark.hardening


@pytest.fixture()
def orders_api(hardening_schema, tokens, users):
    """The orders spec, called in-process with the token of an active user."""
    user_id = uuid.uuid4()
    users.active(user_id)
    return hardening_schema(bearer=tokens.issue(str(user_id), "user"))


schema = schemathesis.pytest.from_fixture("orders_api")


@schema.parametrize()
def test_any_request_gets_a_documented_answer(case):
    case.call_and_validate()
