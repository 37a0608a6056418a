"""``Idempotency-Key`` (IETF httpapi draft) for POST methods: a retried request takes effect once.

A client sends ``Idempotency-Key: <key>`` with a POST; a retry with the same key and payload is
answered with the first response (plus ``Idempotent-Replayed: true``) instead of repeating the
side effect. Keys belong to the caller (the token's subject). The database arbitrates, so this
holds across threads, processes and hosts:

1. claim: INSERT the (scope, key) row as ``in_flight``, committed at once on a connection of its
   own (autocommit); the primary key makes a concurrent duplicate fail and read the winner's row;
2. work: the method runs in the request transaction, which also records the response on the row,
   so the side effect and its stored response commit together or not at all;
3. release: if the method raises, the claim is deleted so that a retry can run.

A claim left ``in_flight`` (worker killed, or the request's commit failed after the method
returned) blocks its key until ``locked_until``; the next request with the key then takes it over.

A service maps the table on its own metadata and decorates the method::

    class IdempotencyKey(IdempotencyKeyMixin, db.Model):
        __tablename__ = "idempotency_keys"

    class OrderList(AuthResource):
        @idempotent(model=IdempotencyKey)
        @operation(...)
        def post(self): ...
"""

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import request
from flask_restful.utils import unpack
from sqlalchemy.orm import Mapped, mapped_column

from common.auth import current_principal
from common.db import UTCDateTime, get_db, session, utcnow
from common.errors import BadRequest, Conflict, Unprocessable
from common.swagger import ERROR_RESPONSES

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
# What a flask-restful method returned, unpacked: data, status, headers.
ViewResult = tuple[Any, int, dict[str, str]]

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
IN_FLIGHT = "in_flight"
COMPLETED = "completed"

# The draft defines the key as a Structured Field String: "..." with \" and \\ escapes
# (RFC 8941). The bare value most clients send is accepted too and names the same key; it has no
# comma, because HTTP joins repeated header fields with commas (two keys are not one key). One
# pattern holds both forms and the key's length: parse_key matches it and the OpenAPI document
# publishes it, so what the document allows is exactly what the service accepts.
_BARE_CHAR = r"[\x21\x23-\x2b\x2d-\x7e]"
_SF_CHAR = r'(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])'
KEY_PATTERN = rf'^(?:{_BARE_CHAR}{{1,{MAX_KEY_LENGTH}}}|"{_SF_CHAR}{{1,{MAX_KEY_LENGTH}}}")$'
_KEY = re.compile(KEY_PATTERN)
# Claim attempts before giving up: each retry means another request changed the row meanwhile.
_CLAIM_ATTEMPTS = 3

# How the header appears in the OpenAPI document of a method that @operation documents.
OPENAPI_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {
        "type": "string",
        "pattern": KEY_PATTERN,
        "minLength": 1,
        # The quoted form of the longest key: two quotes around escaped characters.
        "maxLength": 2 + 2 * MAX_KEY_LENGTH,
    },
    # A fixed example: "Try it out" twice with the same body replays the first response.
    "example": "3f2b8c1e-7d4a-4b9e-9c61-0a5d2e8f4b17",
    "description": (
        f"Makes the request safe to retry. 1 to {MAX_KEY_LENGTH} printable ASCII characters "
        "without spaces, quotes or commas; or an RFC 8941 string: in double quotes, spaces and "
        'commas allowed, `\\` and `"` escaped. The same key and body replay the first response '
        f"(with `{REPLAYED_HEADER}: true`); the same key with another body is a 422 "
        "`idempotency_key_reused`; a retry while the first is running is a 409 "
        "`idempotency_request_in_flight` (see Retry-After). Keys belong to the caller."
    ),
}


class IdempotencyKeyMixin:
    """The columns of the table remembering keys; a service maps it on its own ``db.Model``."""

    # The caller owning the key: two callers choosing the same key never meet.
    scope: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY_LENGTH), primary_key=True)
    # sha256 of method, path and body: the same key with another request is a client bug (422).
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    # The attempt holding the claim. Completing and releasing check it, so a request whose claim
    # expired and was taken over can neither store its response nor delete the new holder's row.
    claim_id: Mapped[uuid.UUID] = mapped_column()
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column()
    response_data: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(sa.JSON(none_as_null=True))
    # Kept for a retention job: completed keys may be purged once clients stopped retrying.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class _Slot:
    """One caller's key: the row every step reads or writes."""

    model: type[IdempotencyKeyMixin]
    scope: str
    key: str

    @property
    def table(self) -> sa.Table:
        """The model's table: every step runs a Core statement, none needs the ORM's unit of
        work (an ORM-enabled UPDATE costs a request more than the statement itself)."""
        return cast(sa.Table, self.model.__table__)  # type: ignore[attr-defined]

    def matches(self) -> sa.ColumnElement[bool]:
        """WHERE clause selecting this slot's row."""
        return sa.and_(self.table.c.scope == self.scope, self.table.c.key == self.key)


def parse_key(raw: str) -> str:
    """Return the key a header value names; 400 ``idempotency_key_invalid`` if malformed."""
    # fullmatch: the pattern's $ would also match before a trailing newline.
    if _KEY.fullmatch(raw) is None:
        raise BadRequest(
            f"{HEADER} must be a string of 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            code="idempotency_key_invalid",
        )
    if raw.startswith('"'):
        return re.sub(r'\\(["\\])', r"\1", raw[1:-1])
    return raw


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """sha256 of the request as canonical JSON: key order and whitespace do not matter."""
    canonical = json.dumps(
        [method, path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _in_flight() -> Conflict:
    # Retry-After: the first request usually finishes within a second (then a retry replays it);
    # a stale claim is taken over at its locked_until at the latest.
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry later.",
        code="idempotency_request_in_flight",
        headers={"Retry-After": "1"},
    )


def _claim(slot: _Slot, fingerprint: str, lock: timedelta) -> uuid.UUID | ViewResult:
    """Claim the key (its new claim id) or return the first response to replay."""
    table = slot.table
    # Each statement commits on its own (AUTOCOMMIT): concurrent duplicates must see the claim
    # before the work starts, and a single INSERT needs no BEGIN and COMMIT around it.
    for _ in range(_CLAIM_ATTEMPTS):
        claim_id, now = uuid.uuid4(), utcnow()
        with get_db().engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                conn.execute(
                    table.insert().values(
                        scope=slot.scope,
                        key=slot.key,
                        fingerprint=fingerprint,
                        state=IN_FLIGHT,
                        claim_id=claim_id,
                        locked_until=now + lock,
                        created_at=now,
                    )
                )
                return claim_id
            except sa.exc.IntegrityError:
                pass  # the key exists: its row decides
            row = conn.execute(
                sa.select(
                    table.c.fingerprint,
                    table.c.state,
                    table.c.claim_id,
                    table.c.locked_until,
                    table.c.response_status,
                    table.c.response_data,
                    table.c.response_headers,
                ).where(slot.matches())
            ).one_or_none()
            if row is None:
                continue  # released since our INSERT failed: claim again
            if row.fingerprint != fingerprint:
                raise Unprocessable(
                    "This Idempotency-Key was used for a different request.",
                    code="idempotency_key_reused",
                )
            if row.state == COMPLETED:
                return row.response_data, row.response_status, dict(row.response_headers or {})
            if row.locked_until > now:
                raise _in_flight()
            # The holder outlived its lock: take the claim over, unless another request just did
            # or the holder completed after all (both change the row this UPDATE matches).
            taken = conn.execute(
                table.update()
                .where(slot.matches(), table.c.claim_id == row.claim_id, table.c.state == IN_FLIGHT)
                .values(claim_id=claim_id, locked_until=now + lock)
            )
            if taken.rowcount == 1:
                return claim_id
    raise _in_flight()


def _complete(slot: _Slot, claim_id: uuid.UUID, result: ViewResult) -> None:
    """Store the response on the row, in the request transaction (commits with the work)."""
    data, status, headers = result
    table = slot.table
    # session.execute: autoflush first, so a view's pending writes fail here, inside the try.
    stored = session.execute(
        table.update()
        .where(slot.matches(), table.c.claim_id == claim_id, table.c.state == IN_FLIGHT)
        .values(
            state=COMPLETED,
            response_status=status,
            response_data=data,
            response_headers=headers,
        )
    )
    if cast(sa.CursorResult[Any], stored).rowcount != 1:
        # Our lock expired and another request took the key over: our work must not commit.
        raise _in_flight()


def _release(slot: _Slot, claim_id: uuid.UUID) -> None:
    """Delete our claim so that a retry can run; at worst it expires at ``locked_until``."""
    table = slot.table
    try:
        with get_db().engine.begin() as conn:
            conn.execute(
                table.delete().where(
                    slot.matches(), table.c.claim_id == claim_id, table.c.state == IN_FLIGHT
                )
            )
    except sa.exc.SQLAlchemyError:
        # The client must see the original error, not this one; the claim will expire.
        log.warning("could not release idempotency key", exc_info=True)


def _document(wrapper: Any) -> None:
    """Add the header and the errors it can cause to the method's @operation document."""
    spec = getattr(wrapper, "specs_dict", None)
    if spec is None:
        return
    responses = dict(spec["responses"])
    for status in (400, 409, 422):
        name = ERROR_RESPONSES[status][0]
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{name}"})
    wrapper.specs_dict = {
        **spec,
        "parameters": [*spec.get("parameters", []), OPENAPI_PARAMETER],
        "responses": dict(sorted(responses.items())),
    }


def idempotent(*, model: type[IdempotencyKeyMixin], lock_seconds: int = 30) -> Callable[[F], F]:
    """Make a POST method honour ``Idempotency-Key``; without the header it runs as usual.

    The method must belong to an ``AuthResource`` (keys belong to the caller), take a JSON body,
    return success the flask-restful way (``data``, ``(data, status)`` or
    ``(data, status, headers)``) with JSON-serialisable data and headers, and raise on errors.
    Put it above ``@operation`` so the OpenAPI document lists the header.

    :param model: the service's table, mapped from ``IdempotencyKeyMixin``.
    :param lock_seconds: how long a claim holds its key; longer than the slowest request.
    """
    lock = timedelta(seconds=lock_seconds)

    def decorate(method: F) -> F:
        @wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = request.headers.get(HEADER)
            if raw is None:
                return method(*args, **kwargs)
            key = parse_key(raw)
            slot = _Slot(model, current_principal().subject, key)
            # A body that is not JSON fails here (400/415), before any key is claimed.
            fingerprint = request_fingerprint(request.method, request.path, request.get_json())
            claimed = _claim(slot, fingerprint, lock)
            if not isinstance(claimed, uuid.UUID):
                data, status, headers = claimed
                return data, status, {**headers, REPLAYED_HEADER: "true"}
            try:
                data, status, headers = unpack(method(*args, **kwargs))
                result = (data, status, dict(headers or {}))
                _complete(slot, claimed, result)
            except Exception:
                # The request transaction is lost anyway (common.transaction rolls back error
                # statuses); ending it now frees its locks, which the release could wait on.
                session.rollback()
                _release(slot, claimed)
                raise
            return result

        _document(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate
