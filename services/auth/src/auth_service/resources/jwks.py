"""The JSON Web Key Set: the public keys services verify access tokens with."""

from flasgger import swag_from
from flask import Response, jsonify
from flask_restful import Resource

from auth_service.keys import get_keys

JWK_SCHEMA = {
    "type": "object",
    "required": ["kty", "crv", "x", "kid"],
    "properties": {
        "kty": {"type": "string", "enum": ["OKP"]},
        "crv": {"type": "string", "enum": ["Ed25519"]},
        "x": {"type": "string", "description": "The public key, base64url."},
        "kid": {"type": "string", "description": "RFC 7638 thumbprint of the key."},
        "use": {"type": "string", "enum": ["sig"]},
        "alg": {"type": "string", "enum": ["EdDSA"]},
    },
}
# Documented by hand: @operation describes enveloped answers, and this one is not.
JWKS_SPEC = {
    "operationId": "getJwks",
    "summary": "Public signing keys (JWKS)",
    "tags": ["auth"],
    "description": (
        "A standard JWKS document (RFC 7517), NOT wrapped in the envelope: common.auth.JWKSCache "
        "and any JOSE library (PyJWKSet) read it as is. Lists the current signing key and any "
        "key kept published during a rotation."
    ),
    "responses": {
        "200": {
            "description": "The key set.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["keys"],
                        "properties": {"keys": {"type": "array", "items": JWK_SCHEMA}},
                    }
                }
            },
        }
    },
}


class Jwks(Resource):
    """The public keys of the auth service."""

    @swag_from(JWKS_SPEC)
    def get(self) -> Response:
        """Return the JWKS document."""
        # A Response bypasses common.api's envelope: consumers expect the bare standard document.
        return jsonify(get_keys().jwks())
