"""Property-based hardening: generated, boundary and malformed requests against the auth spec.

schemathesis reads ``/apispec.json`` from the app in-process and sends every operation the
spec's examples, its coverage cases (boundaries, missing, wrong-typed and unknown fields, wrong
methods) and fuzzed ones, with common.testing's seed and checks: never a 5xx, always a documented
status, content type and body, and every request the spec forbids refused with a 4xx.

Every endpoint is public. The users stand-in creates a profile for any registration, so
registrations succeed and logins, refreshes and logouts meet real accounts' emails.
``pytest -m hardening`` runs only this; ``HARDENING_EXAMPLES=quick`` sends fewer.
"""

import pytest
import schemathesis

from tests.utils.users_service import USERS, create_profile

pytestmark = pytest.mark.hardening


@pytest.fixture()
def auth_api(hardening_schema, httpserver):
    """The auth spec, called in-process; users creates every profile asked for."""
    httpserver.expect_request(USERS, method="POST").respond_with_handler(create_profile)
    return hardening_schema()


schema = schemathesis.pytest.from_fixture("auth_api")


@schema.parametrize()
def test_any_request_gets_a_documented_answer(case):
    case.call_and_validate()
