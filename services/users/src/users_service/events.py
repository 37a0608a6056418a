"""The events the users service publishes: their types and the schemas of their ``data``.

Declared once here, the way routes.py declares URLs; domain.py publishes them in the request's
transaction (common.events.publish), so an event exists exactly when its change committed.
Consumers (auth, orders) read ``data`` tolerantly; a breaking change is a new ``.v2`` type.
"""

from marshmallow import Schema, fields

from common.events import EventType


class UserStateSchema(Schema):
    """A user as other services need it; ``updated_at`` orders the updates they receive."""

    id = fields.UUID(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    updated_at = fields.AwareDateTime(required=True)


class UserDeletedSchema(Schema):
    """A deleted user's id and when it went."""

    id = fields.UUID(required=True)
    deleted_at = fields.AwareDateTime(required=True)


USER_REGISTERED = EventType(
    "users.user.registered.v1", UserStateSchema, "A user profile was created."
)
USER_UPDATED = EventType(
    "users.user.updated.v1",
    UserStateSchema,
    "A user profile changed: email, name or is_active (deactivation and reactivation).",
)
USER_DELETED = EventType("users.user.deleted.v1", UserDeletedSchema, "A user was deleted.")
