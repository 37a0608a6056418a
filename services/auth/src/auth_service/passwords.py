"""Password hashing with Argon2id, and a check that costs the same for an unknown account."""

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError
from flask import Flask, current_app

# The password policy. The maximum bounds the work one request can ask the hasher for.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128

# OWASP Password Storage Cheat Sheet, Argon2id minimum: 19 MiB of memory, 2 passes, 1 lane.
OWASP_MIN_MEMORY_COST = 19456  # KiB
OWASP_MIN_TIME_COST = 2
OWASP_MIN_PARALLELISM = 1


def meets_owasp_minimum(hasher: PasswordHasher) -> bool:
    """True when the hasher is Argon2id at or above OWASP's minimum cost."""
    return (
        hasher.type is Type.ID
        and hasher.memory_cost >= OWASP_MIN_MEMORY_COST
        and hasher.time_cost >= OWASP_MIN_TIME_COST
        and hasher.parallelism >= OWASP_MIN_PARALLELISM
    )


class Passwords:
    """Hashes and checks passwords with one Argon2id cost."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        # Checked when the email is unknown, so that answer costs what a wrong password costs.
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """Return the Argon2id hash of ``password`` (salt and parameters included)."""
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash (unknown account) spend the same time."""
        try:
            self.hasher.verify(password_hash or self._dummy_hash, password)
        except VerificationError:
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        return self.hasher.check_needs_rehash(password_hash)


def get_passwords() -> Passwords:
    """The password hasher of the current app."""
    passwords: Passwords = current_app.extensions["passwords"]
    return passwords


def init_app(app: Flask) -> None:
    """Build the hasher from the config; outside tests, refuse a cost below OWASP's minimum."""
    hasher = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )
    if not app.testing and not meets_owasp_minimum(hasher):
        raise RuntimeError(
            "Argon2 cost below the OWASP minimum (m=19456 KiB, t=2, p=1); only tests lower it."
        )
    app.extensions["passwords"] = Passwords(hasher)
