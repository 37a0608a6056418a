"""The orders service's URL map, in one place."""

from common.api import Api
from orders_service.resources.orders import OrderCancel, OrderDetail, OrderList

PREFIX = "/api/v1/orders"


def register(api: Api) -> None:
    """Attach every resource to its URL."""
    api.add_resource(OrderList, PREFIX, endpoint="orders")
    api.add_resource(OrderDetail, f"{PREFIX}/<uuid:order_id>", endpoint="order")
    api.add_resource(OrderCancel, f"{PREFIX}/<uuid:order_id>/cancel", endpoint="order_cancel")
