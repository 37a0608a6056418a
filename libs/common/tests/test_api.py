"""``common.api.Email``: the addresses every service accepts, as its OpenAPI document says."""

import re

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, ValidationError

from common.api import EMAIL_MAX_LENGTH, EMAIL_PATTERN, Email


class AddressSchema(Schema):
    email = Email(required=True)


def accepts(address):
    try:
        AddressSchema().load({"email": address})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "Ada.Lovelace+maths@Mail.Example.CO",
        "o'brien_1@sub-domain.example.org",
        "x@" + "a" * 63 + ".example.com",
        "a" * 64 + "@example.com",
    ],
)
def test_email_accepts_ordinary_addresses(address):
    assert accepts(address)
    assert re.search(EMAIL_PATTERN, address)


@pytest.mark.parametrize(
    "address",
    [
        "jos\u00e9@example.com",  # non-ASCII: format validators refuse it, SQLite's lower() too
        "a@b\u00fccher.example",
        "a@xn--zz.example.com",  # a label shaped like IDNA's
        "a@-example.com",
        "a@example-.com",
        "a@localhost",
        '"quoted"@example.com',
        "a..b@example.com",
        "a@example.com\n",
        "a" * 65 + "@example.com",  # RFC 5321: local part <= 64, label <= 63, path <= 254
        "x@" + "a" * 64 + ".example.com",
        "x@" + ("a" * 60 + ".") * 4 + "example.com",
        "not-an-email",
    ],
)
def test_email_refuses_what_format_validators_or_rfc_5321_refuse(address):
    assert not accepts(address)


def test_email_is_documented_with_its_pattern_and_length():
    spec = APISpec("t", "1", "3.0.3", plugins=[MarshmallowPlugin()])
    spec.components.schema("Address", schema=AddressSchema)

    prop = spec.to_dict()["components"]["schemas"]["Address"]["properties"]["email"]

    assert prop == {
        "type": "string",
        "format": "email",
        "pattern": EMAIL_PATTERN,
        "maxLength": EMAIL_MAX_LENGTH,
    }
