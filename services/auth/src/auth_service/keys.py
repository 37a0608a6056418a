"""The key access tokens are signed with, and the public keys the JWKS publishes.

The signing key (Ed25519, PEM) comes from, in order:

1. ``AUTH_PRIVATE_KEY`` (PEM text) or ``AUTH_PRIVATE_KEY_FILE`` (a path): production;
2. otherwise, unless ``AUTH_REQUIRE_CONFIGURED_KEY`` is on, a development key generated on the
   first start and kept in ``AUTH_DEV_KEY_FILE`` (default: the instance folder), so tokens stay
   valid across restarts.

During a rotation, ``AUTH_EXTRA_PUBLIC_KEYS`` (PEM text) and ``AUTH_EXTRA_PUBLIC_KEYS_FILE`` (a
PEM file or a directory of ``*.pem``) add public keys to the JWKS next to the current one.
"""

import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app

from common.auth import public_jwk

log = logging.getLogger(__name__)

DEV_KEY_NAME = "auth-signing-key.pem"
_PUBLIC_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class KeySet:
    """The signing key plus the extra public keys kept in the JWKS during a rotation."""

    signing_key: Ed25519PrivateKey
    extra_public_keys: tuple[Ed25519PublicKey, ...] = ()

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document: the current key first, then the extras, each kid once."""
        by_kid: dict[str, dict[str, str]] = {}
        for key in (self.signing_key.public_key(), *self.extra_public_keys):
            jwk = public_jwk(key)
            by_kid.setdefault(jwk["kid"], jwk)
        return {"keys": list(by_kid.values())}


def get_keys() -> KeySet:
    """The key set of the current app."""
    keys: KeySet = current_app.extensions["auth_keys"]
    return keys


def init_app(app: Flask) -> None:
    """Load (or, in development, create) the keys; a misconfiguration stops the start."""
    app.extensions["auth_keys"] = KeySet(
        signing_key=_signing_key(app), extra_public_keys=_extra_public_keys(app.config)
    )


def _signing_key(app: Flask) -> Ed25519PrivateKey:
    config = app.config
    inline, path = config["AUTH_PRIVATE_KEY"], config["AUTH_PRIVATE_KEY_FILE"]
    if inline and path:
        raise RuntimeError("Set AUTH_PRIVATE_KEY or AUTH_PRIVATE_KEY_FILE, not both.")
    if inline:
        # Environment files often carry a PEM's newlines escaped as \n.
        return _private_key(inline.replace("\\n", "\n").encode(), "AUTH_PRIVATE_KEY")
    if path:
        return _private_key(Path(path).read_bytes(), path)
    if config["AUTH_REQUIRE_CONFIGURED_KEY"]:
        raise RuntimeError(
            "No signing key: set AUTH_PRIVATE_KEY or AUTH_PRIVATE_KEY_FILE "
            "(AUTH_REQUIRE_CONFIGURED_KEY is on)."
        )
    default = Path(app.instance_path) / DEV_KEY_NAME
    return _development_key(Path(config["AUTH_DEV_KEY_FILE"] or default))


def _private_key(pem: bytes, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"{source}: not an unencrypted PEM private key.") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{source}: the signing key must be Ed25519 (tokens use EdDSA).")
    return key


def _development_key(path: Path) -> Ed25519PrivateKey:
    """Read the development key at ``path``, generating it (mode 0600) on the first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # mkstemp creates the file readable by its owner only, before any byte is written.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
            # link() publishes the complete file atomically and never overwrites: when several
            # workers start at once, one key wins and every worker reads that same key.
            os.link(tmp, path)
            log.warning("generated a development signing key at %s", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return _private_key(path.read_bytes(), str(path))


def _extra_public_keys(config: Mapping[str, Any]) -> tuple[Ed25519PublicKey, ...]:
    sources: list[tuple[str, bytes]] = []
    if config["AUTH_EXTRA_PUBLIC_KEYS"]:
        text = config["AUTH_EXTRA_PUBLIC_KEYS"].replace("\\n", "\n")
        sources.append(("AUTH_EXTRA_PUBLIC_KEYS", text.encode()))
    if config["AUTH_EXTRA_PUBLIC_KEYS_FILE"]:
        path = Path(config["AUTH_EXTRA_PUBLIC_KEYS_FILE"])
        files = sorted(path.glob("*.pem")) if path.is_dir() else [path]
        sources.extend((str(file), file.read_bytes()) for file in files)
    return tuple(key for source, pem in sources for key in _public_keys(pem, source))


def _public_keys(pem: bytes, source: str) -> list[Ed25519PublicKey]:
    blocks = _PUBLIC_PEM.findall(pem)
    if not blocks:
        raise RuntimeError(f"{source}: no PEM public key (BEGIN PUBLIC KEY) found.")
    keys = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block)
        except (ValueError, TypeError) as exc:
            raise RuntimeError(f"{source}: unreadable PEM public key.") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise RuntimeError(f"{source}: published keys must be Ed25519.")
        keys.append(key)
    return keys
