"""Configuration read from the environment (12-factor), with safe development defaults.

A number that does not parse stops the process at start with the variable's name; an empty
variable counts as unset. Neither Flask's ``from_prefixed_env`` (a prefix on every name, values
that fail to parse kept as strings) nor a settings library (a dependency, and a model to map
onto Flask's flat config) would keep the names, defaults and failures below more simply.
"""

import os
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def _env_number(name: str, default: N, parse: Callable[[str], N], what: str) -> N:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be {what}, got {raw!r}") from None


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable, failing loudly on garbage."""
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    """Read a number (e.g. seconds: ``0.5``) from the environment, failing loudly on garbage."""
    return _env_number(name, default, float, "a number")


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings every service shares; a service subclasses it and sets ``SERVICE_NAME``.

    Values are read when the class body runs, i.e. at import time, so a process reads its
    environment once. Tests pass a mapping to ``create_app`` instead of mutating this class.
    """

    SERVICE_NAME = os.environ.get("SERVICE_NAME", "service")
    # None means "SQLite file named after the service in the instance folder" (see common.app).
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or None
    SQLALCHEMY_ENGINE_OPTIONS = {
        # Each connection the pool lends is pinged first: one the database dropped (a restart,
        # a failover) becomes a fresh one instead of an error. Not a span when tracing is on:
        # the ping goes to the driver directly, past the events common.tracing listens to.
        "pool_pre_ping": True,
        "pool_size": env_int("DB_POOL_SIZE", 5),
        "max_overflow": env_int("DB_MAX_OVERFLOW", 5),
        "pool_timeout": env_int("DB_POOL_TIMEOUT", 5),
        "pool_recycle": env_int("DB_POOL_RECYCLE", 1800),
        # Without it a database that accepts TCP but never answers (hung server, dropped packets)
        # blocks the request -- and /health/ready -- for minutes instead of answering 503.
        "connect_args": {"connect_timeout": env_int("DB_CONNECT_TIMEOUT", 3)},
    }
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # Bodies above this are answered 413 before any view runs.
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # How many proxies (the gateway) stand in front and set X-Forwarded-For; 0 trusts none.
    TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
    # Default page size and the cap a client cannot exceed.
    PAGE_SIZE_DEFAULT = 20
    PAGE_SIZE_MAX = 100

    # Swagger UI and spec; the gateway may serve them under a prefix.
    SWAGGER_UI = env_bool("SWAGGER_UI", True)

    # Token checking (see common.auth); the JWKS URL is where the auth service publishes its keys.
    AUTH_JWKS_URL = os.environ.get("AUTH_JWKS_URL", "http://127.0.0.1:8003/api/v1/auth/jwks.json")
    AUTH_ISSUER = os.environ.get("AUTH_ISSUER", "platform-auth")
    AUTH_AUDIENCE = os.environ.get("AUTH_AUDIENCE", "platform")

    # Inter-service HTTP client defaults (seconds).
    HTTP_CONNECT_TIMEOUT = env_float("HTTP_CONNECT_TIMEOUT", 0.5)
    HTTP_READ_TIMEOUT = env_float("HTTP_READ_TIMEOUT", 2.0)
    HTTP_RETRIES = env_int("HTTP_RETRIES", 2)
    # The most one call may take, retries included: a hung dependency fails a request path in
    # about this, not in attempts x read timeout (see common.http).
    HTTP_DEADLINE = env_float("HTTP_DEADLINE", 1.0)
    # Failed calls in a row that open a dependency's circuit breaker (0: none), and how long it
    # then refuses calls at once before one trial call.
    HTTP_BREAKER_FAILURES = env_int("HTTP_BREAKER_FAILURES", 5)
    HTTP_BREAKER_COOLDOWN = env_float("HTTP_BREAKER_COOLDOWN", 5.0)

    # Integration events (common.events). No BROKER_URL: kombu's filesystem transport in
    # EVENTS_FOLDER (default: <instance folder>/events), shared by the services of one host.
    BROKER_URL = os.environ.get("BROKER_URL") or None
    EVENTS_FOLDER = os.environ.get("EVENTS_FOLDER") or None
    EVENTS_EXCHANGE = os.environ.get("EVENTS_EXCHANGE", "platform.events")
    # The consumer's queue is <exchange>.<name>; None means SERVICE_NAME.
    EVENTS_CONSUMER_NAME = os.environ.get("EVENTS_CONSUMER_NAME") or None
    EVENTS_RELAY_BATCH = env_int("EVENTS_RELAY_BATCH", 100)
    # Longest wait between two outbox scans (LISTEN/NOTIFY usually wakes the relay sooner).
    EVENTS_POLL_SECONDS = env_float("EVENTS_POLL_SECONDS", 1.0)
    # Cap of the relay's and consumer's exponential backoff while the broker is away.
    EVENTS_BACKOFF_MAX_SECONDS = env_float("EVENTS_BACKOFF_MAX_SECONDS", 30.0)
    EVENTS_CONFIRM_TIMEOUT = env_float("EVENTS_CONFIRM_TIMEOUT", 5.0)
    # Handler attempts before a message is dead-lettered, and the retry delays between them.
    EVENTS_MAX_ATTEMPTS = env_int("EVENTS_MAX_ATTEMPTS", 5)
    EVENTS_RETRY_BASE_SECONDS = env_float("EVENTS_RETRY_BASE_SECONDS", 1.0)
    EVENTS_RETRY_MAX_SECONDS = env_float("EVENTS_RETRY_MAX_SECONDS", 60.0)
    EVENTS_PREFETCH = env_int("EVENTS_PREFETCH", 16)
    # Published outbox rows and completed idempotency keys are purged after these.
    EVENTS_RETENTION_SECONDS = env_int("EVENTS_RETENTION_SECONDS", 7 * 24 * 3600)
    IDEMPOTENCY_RETENTION_SECONDS = env_int("IDEMPOTENCY_RETENTION_SECONDS", 24 * 3600)
    EVENTS_PURGE_INTERVAL_SECONDS = env_int("EVENTS_PURGE_INTERVAL_SECONDS", 3600)

    # Prometheus metrics (common.metrics). The web process serves them at /metrics on its own
    # port; the relay and the consumer, which answer no HTTP, on METRICS_PORT when it is set.
    METRICS_PORT = env_int("METRICS_PORT", 0)
    METRICS_HOST = os.environ.get("METRICS_HOST") or os.environ.get("HOST", "0.0.0.0")  # noqa: S104


class TestConfig(Config):
    """Settings for tests: the database comes from the test fixtures, never from DATABASE_URL."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = None
    MAX_CONTENT_LENGTH = 64 * 1024
