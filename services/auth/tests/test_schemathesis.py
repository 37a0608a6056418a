"""Property-based hardening."""

import pytest
import schemathesis

from common.testing import hardening_schema
from tests import dbg

pytestmark = pytest.mark.hardening


@pytest.fixture()
def auth_api(app, httpserver, request):
    request.node._nodeid = request.node.nodeid
    import json
    from werkzeug import Response
    from tests.utils.users_service import profile

    def create(req):
        body = req.get_json()
        return Response(json.dumps({"data": profile(body["email"], body["name"]), "meta": {"request_id": "users"}}), status=201, content_type="application/json")

    httpserver.expect_request("/api/v1/users", method="POST").respond_with_handler(create)
    return hardening_schema(app)


schema = schemathesis.pytest.from_fixture("auth_api")


@schema.parametrize()
def test_any_request_gets_a_documented_answer(case):
    r = case.call_and_validate()
    dbg.record(case, r)
