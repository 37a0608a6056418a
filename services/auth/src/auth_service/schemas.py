"""What the auth API accepts and returns; the same schemas write the OpenAPI document."""

from marshmallow import Schema, fields, validate

from auth_service.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from common.api import Email


class RegistrationSchema(Schema):
    """Body of POST /register; unknown fields are refused (no mass assignment)."""

    email = Email(required=True)
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class AccountSchema(Schema):
    """A registered account: its id is its profile's id in the users service."""

    id = fields.UUID(dump_only=True)
    email = fields.Email(dump_only=True)
    name = fields.String(dump_only=True)
    roles = fields.List(fields.String(), dump_only=True)


class LoginSchema(Schema):
    """Body of POST /login."""

    email = Email(required=True)
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH)
    )


class TokenPairSchema(Schema):
    """Tokens a login or a refresh returns; keep the refresh token secret, it is single-use."""

    access_token = fields.String(
        dump_only=True, metadata={"description": "EdDSA-signed JWT (typ at+jwt)."}
    )
    token_type = fields.String(dump_only=True, metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(
        dump_only=True, metadata={"description": "Seconds until the access token expires."}
    )
    refresh_token = fields.String(
        dump_only=True, metadata={"description": "Opaque; exchange it once at /refresh."}
    )


class RefreshTokenSchema(Schema):
    """Body of POST /refresh and POST /logout."""

    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))
