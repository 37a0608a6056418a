"""Users service settings: the shared ones plus its name."""

from common.config import Config


class UsersConfig(Config):
    """Read from the environment; see common.config.Config for the shared settings."""

    SERVICE_NAME = "users"
