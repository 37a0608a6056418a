"""Auth service settings: the shared ones plus keys, token lifetimes, throttling and Argon2."""

import os

from argon2.profiles import RFC_9106_LOW_MEMORY

from common.config import Config, env_bool, env_int


class AuthConfig(Config):
    """Read from the environment; see common.config.Config for the shared settings."""

    SERVICE_NAME = "auth"

    # Where the users service (profiles) answers; registration creates a profile there.
    USERS_URL = os.environ.get("USERS_URL", "http://127.0.0.1:8001")

    # Signing key (Ed25519, PEM): inline or a file; never both. See auth_service.keys.
    AUTH_PRIVATE_KEY = os.environ.get("AUTH_PRIVATE_KEY") or None
    AUTH_PRIVATE_KEY_FILE = os.environ.get("AUTH_PRIVATE_KEY_FILE") or None
    # Production sets this: without a configured key the service refuses to start.
    AUTH_REQUIRE_CONFIGURED_KEY = env_bool("AUTH_REQUIRE_CONFIGURED_KEY", False)
    # Development only: where the generated key is kept (None: the app's instance folder).
    AUTH_DEV_KEY_FILE = os.environ.get("AUTH_DEV_KEY_FILE") or None
    # Extra public keys published in the JWKS during a rotation: PEM text, and/or a PEM file
    # or a directory of *.pem files.
    AUTH_EXTRA_PUBLIC_KEYS = os.environ.get("AUTH_EXTRA_PUBLIC_KEYS") or None
    AUTH_EXTRA_PUBLIC_KEYS_FILE = os.environ.get("AUTH_EXTRA_PUBLIC_KEYS_FILE") or None

    # Lifetimes in seconds. A short access token bounds how long a revoked session still works.
    ACCESS_TOKEN_TTL = env_int("ACCESS_TOKEN_TTL", 900)
    REFRESH_TOKEN_TTL = env_int("REFRESH_TOKEN_TTL", 14 * 24 * 3600)
    SERVICE_TOKEN_TTL = 60

    # Comma-separated; registering with one of these emails grants admin (bootstrap, README).
    AUTH_ADMIN_EMAILS = os.environ.get("AUTH_ADMIN_EMAILS", "")

    # Failed logins allowed per window before 429, per account (email) and per client IP.
    LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 15 * 60)
    LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
    # Higher per IP: many people share an address (offices, NAT), and each account keeps its own
    # limit of 5; this one caps one address guessing across many accounts.
    LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 100)

    # Argon2id cost: RFC 9106's low-memory profile (argon2-cffi's default), above OWASP's
    # minimum. Deliberately not read from the environment: only tests lower it, through
    # create_app overrides, and auth_service.passwords refuses a weaker cost outside TESTING.
    ARGON2_TIME_COST = RFC_9106_LOW_MEMORY.time_cost
    ARGON2_MEMORY_COST = RFC_9106_LOW_MEMORY.memory_cost
    ARGON2_PARALLELISM = RFC_9106_LOW_MEMORY.parallelism
