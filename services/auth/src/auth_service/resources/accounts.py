"""HTTP endpoint for registration: parse, act through auth_service.domain, return data."""

from typing import Any

from flask_restful import Resource

from auth_service import domain
from auth_service.schemas import AccountSchema, RegistrationSchema
from common.api import parse_body
from common.swagger import operation

TAGS = ["auth"]
account_schema = AccountSchema()


class Registration(Resource):
    """Creating an account: credentials here, the profile in the users service."""

    # No links: the account's id is a user's in the users service, another document.
    @operation(
        operation_id="registerAccount",
        tags=TAGS,
        body=RegistrationSchema,
        response=AccountSchema,
        status=201,
        errors=[409],
    )
    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Register an account.

        Creates the profile in the users service, then the credentials; answers no tokens (log
        in next). 409 `email_taken` when the email has an account. 503 `users_unavailable` when
        users cannot be reached: nothing is stored and a retry completes the registration.
        ---
        """
        account = domain.register(**parse_body(RegistrationSchema()))
        # The account's public face is its profile in the users service.
        return account_schema.dump(account), 201, {"Location": f"/api/v1/users/{account.id}"}
