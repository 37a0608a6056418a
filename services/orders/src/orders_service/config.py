"""Orders service settings: the shared ones plus its name and where the users service is."""

import os

from common.config import Config


class OrdersConfig(Config):
    """Read from the environment; see common.config.Config for the shared settings."""

    SERVICE_NAME = "orders"
    # Asked, before an order is stored, whether the caller's account exists and is active.
    USERS_URL = os.environ.get("USERS_URL", "http://127.0.0.1:8001")
