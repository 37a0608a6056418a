"""What the auth API accepts and returns; the same schemas write the OpenAPI document."""

from marshmallow import Schema, fields, validate

from auth_service.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from common.api import Email

# Examples Swagger UI's "Try it out" sends: register, then log in with the same credentials.
EMAIL_EXAMPLE = {"example": "ada@example.com"}
PASSWORD_EXAMPLE = {"example": "correct horse battery staple"}


class RegistrationSchema(Schema):
    """Body of POST /register; unknown fields are refused (no mass assignment)."""

    email = Email(required=True, metadata=EMAIL_EXAMPLE)
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
        metadata=PASSWORD_EXAMPLE,
    )
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Ada"}
    )


class AccountSchema(Schema):
    """A registered account: its id is its profile's id in the users service."""

    id = fields.UUID(dump_only=True)
    email = fields.Email(dump_only=True)
    name = fields.String(dump_only=True)
    roles = fields.List(fields.String(), dump_only=True)


class LoginSchema(Schema):
    """Body of POST /login."""

    email = Email(required=True, metadata=EMAIL_EXAMPLE)
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH),
        metadata=PASSWORD_EXAMPLE,
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

    # Any example is a token nobody holds: the links of a login's response supply a real one.
    refresh_token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=256),
        metadata={"example": "paste the refresh_token a login or refresh answered"},
    )
