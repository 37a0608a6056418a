"""HTTP endpoints for sessions: log in, refresh, log out."""

from typing import Any

from flask import request
from flask_restful import Resource

from auth_service import domain
from auth_service.schemas import LoginSchema, RefreshTokenSchema, TokenPairSchema
from common.api import parse_body
from common.swagger import operation

TAGS = ["auth"]
token_pair_schema = TokenPairSchema()
# RFC 6749 5.1: responses carrying tokens must not be stored by any cache.
NO_STORE = {"Cache-Control": "no-store"}
# A token pair's refresh token is what the next refresh or the logout sends (OpenAPI links).
FRESH_TOKEN = {"requestBody": {"refresh_token": "$response.body#/data/refresh_token"}}
SESSION_LINKS = {"refreshTokens": FRESH_TOKEN, "logout": FRESH_TOKEN}


class Login(Resource):
    """Exchanging credentials for tokens."""

    @operation(
        operation_id="login",
        tags=TAGS,
        body=LoginSchema,
        response=TokenPairSchema,
        errors=[401, 403, 429],
        links=SESSION_LINKS,
    )
    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Log in.

        Answers an access token and a refresh token. 401 `invalid_credentials` for an unknown
        email and a wrong password alike; 403 `account_disabled` for the right password of a
        deactivated account. Failed logins are throttled per account and per client IP: 429 with
        Retry-After.
        ---
        """
        # remote_addr is the client's address: common applies ProxyFix behind TRUSTED_PROXIES.
        ip = request.remote_addr or "unknown"
        pair = domain.login(**parse_body(LoginSchema()), ip=ip)
        return token_pair_schema.dump(pair), 200, NO_STORE


class Refresh(Resource):
    """Rotating a refresh token."""

    @operation(
        operation_id="refreshTokens",
        tags=TAGS,
        body=RefreshTokenSchema,
        response=TokenPairSchema,
        errors=[401, 403],
        links=SESSION_LINKS,
    )
    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Refresh the tokens.

        Answers a new access token and a new refresh token. Each refresh token works once and is
        replaced by the one returned. Presenting a used token again revokes its whole family:
        every session token of that login. 403 `account_disabled` while the account is
        deactivated (the token stays good for after its reactivation).
        ---
        """
        pair = domain.refresh(**parse_body(RefreshTokenSchema()))
        return token_pair_schema.dump(pair), 200, NO_STORE


class Logout(Resource):
    """Ending a session."""

    @operation(operation_id="logout", tags=TAGS, body=RefreshTokenSchema, status=204)
    def post(self) -> tuple[None, int]:
        """Log out.

        Revokes the refresh token's family; its access tokens expire on their own. Idempotent:
        an unknown or already revoked token also answers 204, so the endpoint tells nothing
        about tokens.
        ---
        """
        domain.logout(**parse_body(RefreshTokenSchema()))
        return None, 204
