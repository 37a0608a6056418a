"""The tiny service's resources; ``/_test/...`` ones misbehave on purpose."""

import sqlalchemy as sa
from flask_restful import Resource

from common.api import Api, parse_body, parse_query
from common.db import savepoint, session
from common.envelope import Envelope, Page
from common.errors import Conflict, DependencyUnavailable, NotFound, TooManyRequests, Unauthorized
from common.swagger import operation

from .models import Part, Widget
from .schemas import (
    NameSchema,
    OrphanPartCreateSchema,
    PartCreateSchema,
    PartSchema,
    WidgetCreateSchema,
    WidgetQuerySchema,
    WidgetSchema,
)

UUID_PARAM = {"type": "string", "format": "uuid", "example": "0b7e5d3c-3f0e-4c55-a1a4-5f1c0e9a2d11"}
CREATED_WIDGET = {"parameters": {"widget_id": "$response.body#/data/id"}}
# Text a 500 body must never contain (see test_errors).
SECRET = "s3cret-detail SELECT password FROM accounts"


class SavepointDone(Exception):
    """Raised inside a savepoint to roll back just that block."""


def _widget(widget_id) -> Widget:
    widget = session.get(Widget, widget_id)
    if widget is None:
        raise NotFound("No such widget.")
    return widget


class WidgetList(Resource):
    @operation(
        operation_id="listWidgets",
        tags=["widgets"],
        response=WidgetSchema,
        many=True,
        query=WidgetQuerySchema,
    )
    def get(self):
        """List widgets."""
        query = parse_query(WidgetQuerySchema())
        stmt = sa.select(Widget)
        if "name" in query:
            stmt = stmt.where(Widget.name == query["name"])
        total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
        rows = session.scalars(
            stmt.order_by(Widget.name).limit(query["limit"]).offset(query["offset"])
        ).all()
        return Page(WidgetSchema(many=True).dump(rows), total, query["limit"], query["offset"])

    @operation(
        operation_id="createWidget",
        tags=["widgets"],
        response=WidgetSchema,
        status=201,
        body=WidgetCreateSchema,
        errors=[409],
        links={"getWidget": CREATED_WIDGET, "deleteWidget": CREATED_WIDGET},
    )
    def post(self):
        """Create a widget."""
        data = parse_body(WidgetCreateSchema())
        if session.scalar(sa.select(Widget.id).where(Widget.name == data["name"])) is not None:
            raise Conflict("A widget with this name exists.", details={"name": data["name"]})
        widget = Widget(name=data["name"])
        session.add(widget)
        session.flush()
        return WidgetSchema().dump(widget), 201, {"Location": f"/widgets/{widget.id}"}


class WidgetItem(Resource):
    @operation(
        operation_id="getWidget",
        tags=["widgets"],
        response=WidgetSchema,
        path={"widget_id": UUID_PARAM},
    )
    def get(self, widget_id):
        """Get a widget."""
        return WidgetSchema().dump(_widget(widget_id))

    @operation(
        operation_id="renameWidget",
        tags=["widgets"],
        response=WidgetSchema,
        body=NameSchema,
        path={"widget_id": UUID_PARAM},
        errors=[409],
    )
    def patch(self, widget_id):
        """Rename a widget.

        The unique constraint decides: a name another widget has answers 409.
        ---
        """
        data = parse_body(NameSchema())
        widget = _widget(widget_id)
        widget.name = data["name"]
        session.flush()  # a duplicate name fails here, as an IntegrityError
        return WidgetSchema().dump(widget)

    @operation(
        operation_id="deleteWidget", tags=["widgets"], status=204, path={"widget_id": UUID_PARAM}
    )
    def delete(self, widget_id):
        """Delete a widget."""
        session.delete(_widget(widget_id))
        return None, 204


class WidgetParts(Resource):
    @operation(
        operation_id="addWidgetPart",
        tags=["parts"],
        response=PartSchema,
        status=201,
        body=PartCreateSchema,
        path={"widget_id": UUID_PARAM},
    )
    def post(self, widget_id):
        """Add a part to a widget."""
        data = parse_body(PartCreateSchema())
        part = Part(widget_id=_widget(widget_id).id, name=data["name"])
        session.add(part)
        session.flush()
        return PartSchema().dump(part), 201


class OrphanParts(Resource):
    @operation(
        operation_id="addOrphanPart",
        tags=["parts"],
        response=PartSchema,
        status=201,
        body=OrphanPartCreateSchema,
        errors=[409],
    )
    def post(self):
        """Add a part without checking its widget (the FK decides)."""
        data = parse_body(OrphanPartCreateSchema())
        part = Part(widget_id=data["widget_id"], name=data["name"])
        session.add(part)
        session.flush()  # deferred FK on PostgreSQL: passes here, fails at COMMIT
        return PartSchema().dump(part), 201


class Ping(Resource):
    @operation(operation_id="ping", tags=["test"])
    def get(self):
        """Answer without touching the database."""
        return Envelope({"pong": True}, meta={"note": "no database"})


class Boom(Resource):
    @operation(operation_id="boom", tags=["test"])
    def get(self):
        """Fail with a bug."""
        raise RuntimeError(SECRET)


class BadStatement(Resource):
    @operation(operation_id="runBadStatement", tags=["test"])
    def get(self):
        """Fail with a bug in a SQL statement."""
        # Missing bind parameter: SQLAlchemy raises with the SQL text in its message.
        session.execute(sa.text("SELECT id FROM widgets WHERE name = :name"))
        return None


class AddThenRaise(Resource):
    @operation(operation_id="addThenRaise", tags=["test"], body=NameSchema)
    def post(self):
        """Add a widget, then fail with a bug."""
        session.add(Widget(name=parse_body(NameSchema())["name"]))
        session.flush()
        raise RuntimeError(SECRET)


class AddThenConflict(Resource):
    @operation(operation_id="addThenConflict", tags=["test"], body=NameSchema, errors=[409])
    def post(self):
        """Add a widget, then refuse with 409."""
        session.add(Widget(name=parse_body(NameSchema())["name"]))
        session.flush()
        raise Conflict("Changed my mind.")


class SavepointBlock(Resource):
    @operation(
        operation_id="addInSavepoints",
        tags=["test"],
        response=WidgetSchema,
        status=201,
        body=NameSchema,
    )
    def post(self):
        """Add a widget, and another inside a savepoint that fails."""
        name = parse_body(NameSchema())["name"]
        widget = Widget(name=name)
        session.add(widget)
        session.flush()
        try:
            with savepoint():
                session.add(Widget(name=f"{name}-inner"))
                session.flush()
                raise SavepointDone
        except SavepointDone:
            pass
        try:
            with savepoint():
                session.add(Widget(name=name))  # duplicate: IntegrityError inside the block
                session.flush()
        except sa.exc.IntegrityError:
            pass
        return WidgetSchema().dump(widget), 201


class NeedsToken(Resource):
    @operation(operation_id="needToken", tags=["test"], auth=True)
    def get(self):
        """Always refuse the token."""
        raise Unauthorized(error="invalid_token")


class Throttled(Resource):
    @operation(operation_id="throttle", tags=["test"], errors=[429])
    def get(self):
        """Always refuse as throttled."""
        raise TooManyRequests(retry_after=30)


class CallsUsers(Resource):
    @operation(operation_id="callUsers", tags=["test"])
    def get(self):
        """Fail on a dependency that is down (the users service)."""
        raise DependencyUnavailable("users")


def register(api: Api) -> None:
    api.add_resource(WidgetList, "/widgets")
    api.add_resource(WidgetItem, "/widgets/<uuid:widget_id>")
    api.add_resource(WidgetParts, "/widgets/<uuid:widget_id>/parts")
    api.add_resource(OrphanParts, "/parts")
    api.add_resource(Ping, "/_test/ping")
    api.add_resource(Boom, "/_test/boom")
    api.add_resource(BadStatement, "/_test/bad-statement")
    api.add_resource(AddThenRaise, "/_test/add-then-raise")
    api.add_resource(AddThenConflict, "/_test/add-then-conflict")
    api.add_resource(SavepointBlock, "/_test/savepoint")
    api.add_resource(NeedsToken, "/_test/needs-token")
    api.add_resource(Throttled, "/_test/throttled")
    api.add_resource(CallsUsers, "/_test/calls-users")
