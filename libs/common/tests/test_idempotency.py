"""common.idempotency's pure parts: the header's syntax, the fingerprint, the OpenAPI entry.

The claim/replay/release cycle needs a service's table and a database: services/orders tests it
end to end, concurrent duplicates on PostgreSQL included.
"""

import jsonschema
import pytest

from common.errors import BadRequest
from common.idempotency import (
    HEADER,
    OPENAPI_PARAMETER,
    IdempotencyKeyMixin,
    idempotent,
    parse_key,
    request_fingerprint,
)
from common.swagger import operation

VALID = [
    ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
    ('"8e03978e"', "8e03978e"),  # the draft's Structured Field String
    ('"with space"', "with space"),
    ('"say \\"hi\\" \\\\o/"', 'say "hi" \\o/'),
    ("k" * 255, "k" * 255),
    ('"' + "k" * 255 + '"', "k" * 255),
    ('"' + '\\"' * 255 + '"', '"' * 255),  # the longest header value: every character escaped
]
INVALID = [
    "",
    '""',
    "k" * 256,
    "two words",  # a bare key is one token; quote it to use spaces
    "a,b",  # what HTTP makes of two Idempotency-Key fields
    "clé",
    "tab\there",
    '"unterminated',
    '"bad \\x escape"',
    '"inner " quote"',
    '"' + "k" * 256 + '"',
]


@pytest.mark.parametrize(("raw", "key"), VALID)
def test_valid_keys(raw, key):
    assert parse_key(raw) == key


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_keys_are_400(raw):
    with pytest.raises(BadRequest) as caught:
        parse_key(raw)
    assert caught.value.code_text == "idempotency_key_invalid"


@pytest.mark.parametrize(
    ("raw", "valid"), [(raw, True) for raw, _ in VALID] + [(raw, False) for raw in INVALID]
)
def test_the_documented_schema_accepts_exactly_the_keys_parse_key_accepts(raw, valid):
    # What a client, or a test generator, reads in the document is what the service accepts.
    schema = OPENAPI_PARAMETER["schema"]
    accepted = jsonschema.Draft4Validator(schema).is_valid(raw)
    assert accepted is valid
    assert jsonschema.Draft4Validator(schema).is_valid(OPENAPI_PARAMETER["example"])


def test_fingerprint_ignores_key_order_and_whitespace_only():
    body = {"items": [{"sku": "A", "quantity": 1}], "currency": "EUR"}
    reordered = {"currency": "EUR", "items": [{"quantity": 1, "sku": "A"}]}
    same = request_fingerprint("POST", "/orders", body)
    assert request_fingerprint("POST", "/orders", reordered) == same
    assert len(same) == 64
    assert request_fingerprint("POST", "/orders", {**body, "currency": "USD"}) != same
    assert request_fingerprint("POST", "/carts", body) != same
    # List order is meaning: two items swapped are another request.
    swapped = {"items": [{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 1}]}
    listed = {"items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}]}
    assert request_fingerprint("POST", "/o", swapped) != request_fingerprint("POST", "/o", listed)


def test_decorator_documents_the_header_and_its_errors_on_top_of_operation():
    class Resource:
        @idempotent(model=IdempotencyKeyMixin)
        @operation(operation_id="createThing", tags=["t"], status=201, errors=[409])
        def post(self):
            """Create something."""

    spec = Resource.post.specs_dict
    assert [p["name"] for p in spec["parameters"] if p["in"] == "header"] == [HEADER]
    assert {"201", "400", "409", "422", "503"} <= set(spec["responses"])
    assert Resource.post.__doc__ == "Create something."


def test_undocumented_method_stays_undocumented():
    @idempotent(model=IdempotencyKeyMixin)
    def post():
        """Create something."""

    assert not hasattr(post, "specs_dict")
