"""Property-based hardening: generated, boundary and malformed requests against the users spec.

schemathesis reads ``/apispec.json`` from the app in-process and sends every operation the
spec's examples, its coverage cases (boundaries, missing, wrong-typed and unknown fields, wrong
methods) and fuzzed ones, with common.testing's seed and checks: never a 5xx, always a documented
status, content type and body, and every request the spec forbids refused with a 4xx.

The caller is an admin, who may use every operation; users it creates are found again by the
item endpoints. ``pytest -m hardening`` runs only this; ``HARDENING_EXAMPLES=quick`` sends fewer.
"""

import uuid

import pytest
import schemathesis

pytestmark = pytest.mark.hardening


@pytest.fixture()
def users_api(hardening_schema, tokens):
    """The users spec, called in-process with an admin's token."""
    return hardening_schema(bearer=tokens.issue(str(uuid.uuid4()), "admin"))


schema = schemathesis.pytest.from_fixture("users_api")


@schema.parametrize()
def test_any_request_gets_a_documented_answer(case):
    case.call_and_validate()
