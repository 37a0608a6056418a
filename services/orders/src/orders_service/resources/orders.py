"""HTTP endpoints for orders: parse, act through orders_service.domain, return data.

Every method needs an access token (AuthResource). A caller sees and cancels their own orders;
a principal with the ``admin`` role sees and cancels every order.
"""

import uuid
from typing import Any

from flask import url_for

from common.api import dump_page, parse_body, parse_query
from common.auth import AuthResource, current_principal
from common.envelope import Page
from common.errors import Forbidden
from common.idempotency import idempotent
from common.swagger import operation
from orders_service import domain
from orders_service.events import CANCELLED_BY_ADMIN, CANCELLED_BY_USER
from orders_service.models import IdempotencyKey
from orders_service.schemas import OrderCreateSchema, OrderQuerySchema, OrderSchema

TAGS = ["orders"]
ORDER_ID = {
    "order_id": {
        "type": "string",
        "format": "uuid",
        "example": "0f8e2d4c-6b1a-4c3e-9d7f-5a2b8c1e3d40",
    }
}
# The operations a placed order's id leads to (OpenAPI links: clients and test tools follow them).
PLACED_ORDER = {"parameters": {"order_id": "$response.body#/data/id"}}
ADMIN = "admin"
order_schema = OrderSchema()


def caller_id() -> uuid.UUID:
    """The caller's user id: the auth service sets the token's subject to it."""
    try:
        return uuid.UUID(current_principal().subject)
    except ValueError:
        raise Forbidden("Only user accounts have orders.", code="not_a_user") from None


def visible_owner() -> uuid.UUID | None:
    """Whose orders the caller may see: their own, or everyone's (None) for an admin."""
    return None if current_principal().has_role(ADMIN) else caller_id()


class OrderList(AuthResource):
    """The caller's orders (every order, for an admin)."""

    @operation(
        operation_id="listOrders",
        tags=TAGS,
        query=OrderQuerySchema,
        response=OrderSchema,
        many=True,
        auth=True,
    )
    def get(self) -> Page:
        """List the caller's orders (every order, for an admin).

        Newest first. `user_id` is for admins only (403 otherwise).
        ---
        """
        args = parse_query(OrderQuerySchema())
        owner_id = visible_owner()
        user_id = args.pop("user_id", None)
        if user_id is not None:
            if owner_id is not None:
                raise Forbidden("Only an admin can list another user's orders.")
            owner_id = user_id
        return dump_page(order_schema, domain.list_orders(owner_id=owner_id, **args))

    @idempotent(model=IdempotencyKey)
    @operation(
        operation_id="createOrder",
        tags=TAGS,
        body=OrderCreateSchema,
        response=OrderSchema,
        status=201,
        errors=[409],
        auth=True,
        links={"getOrder": PLACED_ORDER, "cancelOrder": PLACED_ORDER},
    )
    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Place an order.

        The order is the caller's; the Location header points at it. The service computes line
        totals and the total. The caller's account must exist and be active: 403 `user_inactive`
        if it is deactivated, deleted or unknown to the users service. Orders decides from what
        users' events told it; only for an account it has not heard of yet does it ask users,
        and then 503 `users_unavailable` (within about a second) when users cannot answer.
        ---
        """
        body = parse_body(OrderCreateSchema())
        order = domain.place_order(user_id=caller_id(), **body)
        location = url_for("order", order_id=order.id)
        return order_schema.dump(order), 201, {"Location": location}


class OrderDetail(AuthResource):
    """One order."""

    @operation(operation_id="getOrder", tags=TAGS, path=ORDER_ID, response=OrderSchema, auth=True)
    def get(self, order_id: uuid.UUID) -> dict[str, Any]:
        """Get an order (another user's order is a 404)."""
        return order_schema.dump(domain.get_order(order_id=order_id, owner_id=visible_owner()))


class OrderCancel(AuthResource):
    """Cancelling an order: an action, hence a POST on a sub-resource."""

    @operation(
        operation_id="cancelOrder",
        tags=TAGS,
        path=ORDER_ID,
        response=OrderSchema,
        errors=[409],
        auth=True,
    )
    def post(self, order_id: uuid.UUID) -> dict[str, Any]:
        """Cancel an order.

        Answers the cancelled order. Only a `placed` order can be cancelled (409 `invalid_state`
        otherwise).
        ---
        """
        owner_id = visible_owner()
        # What the cancelled event says: an admin's cancellation is the admin's, even of an order
        # of their own (the caller's role decides, as it decides what they may see).
        reason = CANCELLED_BY_ADMIN if owner_id is None else CANCELLED_BY_USER
        order = domain.cancel_order(order_id=order_id, owner_id=owner_id, reason=reason)
        return order_schema.dump(order)
