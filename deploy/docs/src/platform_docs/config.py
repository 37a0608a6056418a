"""Docs service settings, read from the environment once, at import (tests pass overrides)."""

import os

from common.config import env_float, env_int


class DocsConfig:
    """What the docs service needs: no database, only where to find the services."""

    SERVICE_NAME = "docs"
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # How many proxies (the gateway) stand in front and set X-Forwarded-*; 0 trusts none.
    TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)

    # Where the services are found: the gateway's API (e.g. http://gateway:8080), or else a
    # static list `name=http://host:port,...` for a platform without Traefik's API.
    DOCS_TRAEFIK_API = os.environ.get("DOCS_TRAEFIK_API", "")
    DOCS_SERVICES = os.environ.get("DOCS_SERVICES", "")
    # One page load fetches the UI, the merged document and maybe a service's: reuse answers.
    DOCS_CACHE_SECONDS = env_float("DOCS_CACHE_SECONDS", 5.0)

    HTTP_CONNECT_TIMEOUT = env_float("HTTP_CONNECT_TIMEOUT", 0.5)
    HTTP_READ_TIMEOUT = env_float("HTTP_READ_TIMEOUT", 2.0)
    # No retries by default: a missing spec is shown as unavailable and the next reload retries.
    HTTP_RETRIES = env_int("HTTP_RETRIES", 0)
