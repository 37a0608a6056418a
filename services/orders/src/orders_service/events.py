"""The integration events orders publishes (common.events): declared once, like routes.py.

Consumers (users keeps an open-order count) read them by name; the README lists them.
"""

from marshmallow import Schema, fields, validate

from common.events import EventType

# Why an order was cancelled: by its owner, by an admin, or because the owner's account was
# deleted (orders_service.handlers).
CANCELLED_BY_USER = "cancelled_by_user"
CANCELLED_BY_ADMIN = "cancelled_by_admin"
USER_DELETED = "user_deleted"
CANCEL_REASONS = (CANCELLED_BY_USER, CANCELLED_BY_ADMIN, USER_DELETED)


class OrderPlacedSchema(Schema):
    """``data`` of orders.order.placed.v1; dumped straight from an Order."""

    id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    total_cents = fields.Integer(required=True)
    currency = fields.String(required=True)
    placed_at = fields.AwareDateTime(required=True, attribute="created_at")


class OrderCancelledSchema(Schema):
    """``data`` of orders.order.cancelled.v1."""

    id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(CANCEL_REASONS))
    cancelled_at = fields.AwareDateTime(required=True)


ORDER_PLACED = EventType("orders.order.placed.v1", OrderPlacedSchema, "An order was placed.")
ORDER_CANCELLED = EventType(
    "orders.order.cancelled.v1",
    OrderCancelledSchema,
    "A placed order was cancelled (by its owner, an admin, or the owner's account deletion).",
)
