"""The auth service's URL map, in one place."""

from auth_service.resources.accounts import Registration
from auth_service.resources.jwks import Jwks
from auth_service.resources.sessions import Login, Logout, Refresh
from common.api import Api

PREFIX = "/api/v1/auth"


def register(api: Api) -> None:
    """Attach every resource to its URL."""
    api.add_resource(Registration, f"{PREFIX}/register", endpoint="register")
    api.add_resource(Login, f"{PREFIX}/login", endpoint="login")
    api.add_resource(Refresh, f"{PREFIX}/refresh", endpoint="refresh")
    api.add_resource(Logout, f"{PREFIX}/logout", endpoint="logout")
    api.add_resource(Jwks, f"{PREFIX}/jwks.json", endpoint="jwks")
