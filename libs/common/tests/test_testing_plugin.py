"""``common.testing``: a migrated app on a session database, emptied between tests; examples.

The two ``test_isolation_*`` tests run in file order: the second sees nothing of the first.
"""

import os

import pytest
import sqlalchemy as sa
from flask import Flask, request
from flask_restful import Resource
from marshmallow import Schema, fields, validate

from common import errors, request_id, swagger
from common.api import Api, parse_body
from common.swagger import operation
from common.testing import assert_examples_succeed


def test_isolation_1_writes_rows(client, count_rows):
    widget_id = client.post("/widgets", json={"name": "left-over"}).get_json()["data"]["id"]
    assert client.post(f"/widgets/{widget_id}/parts", json={"name": "p"}).status_code == 201

    assert count_rows("widgets") == 1
    assert count_rows("parts") == 1


def test_isolation_2_sees_no_rows_of_the_previous_test(client, count_rows):
    assert count_rows("widgets") == 0
    assert count_rows("parts") == 0
    assert client.get("/widgets").get_json()["meta"]["total"] == 0


def test_app_is_migrated_to_the_latest_revision(count_rows):
    assert count_rows("alembic_version", version_num="0002") == 1


def test_app_is_built_for_testing_on_the_session_database(app, database_url):
    assert app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url


def test_database_url_is_a_fresh_database_or_a_sqlite_file(database_url):
    url = sa.engine.make_url(database_url)
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        assert url.get_backend_name() == "postgresql"
        assert url.database.startswith("test_")
        assert url.database != sa.engine.make_url(server).database
    else:
        assert url.get_backend_name() == "sqlite"
        assert url.database.endswith("test.db")


class NoteSchema(Schema):
    id = fields.String()
    title = fields.String()


CREATED_NOTE = {"parameters": {"note_id": "$response.body#/data/id"}}
NOTE_ID = {"note_id": {"type": "string", "example": "n-documented"}}


def notes_app(**title_metadata: str) -> Flask:
    """An app of notes kept in memory; ``sent`` records every request it answered."""

    class NoteCreateSchema(Schema):
        title = fields.String(
            required=True, validate=validate.Length(max=10), metadata=title_metadata
        )

    app = Flask(__name__)
    notes: dict[str, dict[str, str]] = {}
    app.extensions["sent"] = sent = []

    class NoteList(Resource):
        @operation(
            operation_id="createNote",
            tags=["notes"],
            body=NoteCreateSchema,
            response=NoteSchema,
            status=201,
            links={"getNote": CREATED_NOTE, "deleteNote": CREATED_NOTE},
        )
        def post(self):
            """Create a note."""
            note = {"id": f"n-{len(notes)}", **parse_body(NoteCreateSchema())}
            notes[note["id"]] = note
            return note, 201

    class NoteItem(Resource):
        @operation(operation_id="getNote", tags=["notes"], path=NOTE_ID, response=NoteSchema)
        def get(self, note_id):
            """Get a note."""
            return notes[note_id]

        @operation(operation_id="deleteNote", tags=["notes"], path=NOTE_ID, status=204)
        def delete(self, note_id):
            """Delete a note."""
            del notes[note_id]
            return None, 204

    request_id.init_app(app)
    errors.init_app(app)
    api = Api(app)
    api.add_resource(NoteList, "/notes")
    api.add_resource(NoteItem, "/notes/<note_id>")
    app.after_request(lambda response: sent.append((request.method, request.path)) or response)
    swagger.init_app(app, title="Notes")
    return app


def test_examples_are_sent_creates_first_and_links_supply_the_created_id():
    app = notes_app(example="Groceries")

    assert_examples_succeed(app.test_client())

    documented = [m for m in app.extensions["sent"] if m[1] != swagger.SPEC_ROUTE]
    assert documented == [("POST", "/notes"), ("GET", "/notes/n-0"), ("DELETE", "/notes/n-0")]


def test_an_example_the_service_refuses_fails():
    with pytest.raises(AssertionError, match="createNote"):
        assert_examples_succeed(notes_app(example="far too long a title").test_client())


def test_a_field_without_example_fails_naming_it():
    with pytest.raises(AssertionError, match=r"createNote: body\.title has no example"):
        assert_examples_succeed(notes_app().test_client())
