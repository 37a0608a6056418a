"""The users service's URL map, in one place."""

from common.api import Api
from users_service.resources.users import UserItem, UserList

PREFIX = "/api/v1/users"


def register(api: Api) -> None:
    """Attach every resource to its URL."""
    api.add_resource(UserList, PREFIX, endpoint="users")
    api.add_resource(UserItem, f"{PREFIX}/<uuid:user_id>", endpoint="user")
