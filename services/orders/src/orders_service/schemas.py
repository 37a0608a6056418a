"""What the orders API accepts and returns; the same schemas write the OpenAPI document."""

from marshmallow import Schema, fields, validate

from common.api import FullMatch, PageQuerySchema
from orders_service.models import STATUSES


class OrderItemSchema(Schema):
    """One line of an order as the API returns it."""

    sku = fields.String(dump_only=True)
    quantity = fields.Integer(dump_only=True)
    unit_price_cents = fields.Integer(dump_only=True)
    line_total_cents = fields.Integer(dump_only=True)


class OrderSchema(Schema):
    """An order as the API returns it."""

    id = fields.UUID(dump_only=True)
    user_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    currency = fields.String(dump_only=True)
    items = fields.List(fields.Nested(OrderItemSchema), dump_only=True)
    total_cents = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class OrderItemCreateSchema(Schema):
    """One line of POST /orders; its total is computed by the service, so it is refused here."""

    sku = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=64), FullMatch(r"^[A-Za-z0-9._-]+$")],
        metadata={"example": "BOOK-42"},
    )
    # strict: 2.0, "2" and true are not quantities.
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, 1000), metadata={"example": 2}
    )
    unit_price_cents = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(0, 10_000_000),
        metadata={"example": 1250},
    )


class OrderCreateSchema(Schema):
    """Body of POST /orders; unknown fields (totals, user_id, status) are refused."""

    items = fields.List(
        fields.Nested(OrderItemCreateSchema),
        required=True,
        validate=validate.Length(min=1, max=100),
    )
    currency = fields.String(
        load_default="EUR",
        validate=FullMatch(r"^[A-Z]{3}$", error="An ISO 4217 code, e.g. EUR."),
        metadata={"example": "EUR"},
    )


class OrderQuerySchema(PageQuerySchema):
    """Query of GET /orders: pagination, a status filter, and a user filter for admins."""

    status = fields.String(validate=validate.OneOf(STATUSES), metadata={"example": "placed"})
    # No example: Swagger UI would fill it in, and a user's "Try it out" would answer 403.
    user_id = fields.UUID(metadata={"description": "Admins only (403 for anyone else)."})
