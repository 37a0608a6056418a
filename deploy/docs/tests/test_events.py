"""The events catalog: the services' AsyncAPI documents merged, and the page that reads it."""

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from platform_docs.events import catalog, merge_events
from tests.specs import (
    auth_events,
    auth_spec,
    orders_events,
    orders_spec,
    users_events,
    users_spec,
)

# The official AsyncAPI 3.0.0 JSON Schema, vendored once in libs/common (see its README there).
ASYNCAPI_SCHEMA = Path(__file__).parents[3] / "libs/common/tests/data/asyncapi/asyncapi-3.0.0.json"
DELETED = "users.user.deleted.v1"
PLACED = "orders.order.placed.v1"
REGISTERED = "users.user.registered.v1"


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    """Validates AsyncAPI 3.0.0 documents offline (definitions resolved by their ``$id``)."""
    return jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))


def assert_valid(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> None:
    errors = [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(document)]
    assert not errors


@pytest.fixture()
def client(serve, traefik, make_app):
    """The docs app discovering users, orders and auth, each with its events document."""
    api = traefik(
        {
            "users": serve(users_spec(), events=users_events()),
            "orders": serve(orders_spec(), events=orders_events()),
            "auth": serve(auth_spec(), events=auth_events()),
        }
    )
    return make_app(DOCS_TRAEFIK_API=api).test_client()


def parties(document: dict[str, Any], name: str) -> dict[str, list[str]]:
    """Who sends and who receives the type ``name``, read from the operations' tags."""
    found: dict[str, list[str]] = {"send": [], "receive": []}
    for operation in document["operations"].values():
        if operation["channel"] == {"$ref": f"#/channels/{name}"}:
            found[operation["action"]].append(operation["tags"][0]["name"])
    return {action: sorted(services) for action, services in found.items()}


def test_the_catalog_is_one_valid_asyncapi_document(client, asyncapi_validator):
    response = client.get("/apidocs/asyncapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert_valid(asyncapi_validator, document)
    assert document["asyncapi"] == "3.0.0"
    assert sorted(document["channels"]) == [PLACED, DELETED, REGISTERED]
    assert document["x-unavailable-services"] == []


def test_every_type_has_its_producer_and_its_consumers(client):
    document = client.get("/apidocs/asyncapi.json").get_json()
    assert parties(document, DELETED) == {"send": ["users"], "receive": ["auth", "orders"]}
    assert parties(document, REGISTERED) == {"send": ["users"], "receive": ["orders"]}
    assert parties(document, PLACED) == {"send": ["orders"], "receive": ["users"]}


def test_a_channel_comes_from_its_producer_with_the_data_schema(client):
    document = client.get("/apidocs/asyncapi.json").get_json()
    # auth and orders, which sort before users, declare the channel too, without a schema.
    message = document["channels"][DELETED]["messages"][DELETED]
    data = message["payload"]["properties"]["data"]
    assert data["required"] == ["deleted_at", "id"]
    assert message["payload"]["properties"]["source"]["const"] == "/services/users"


def test_a_service_without_an_events_document_is_left_out_and_listed(
    serve, traefik, make_app, asyncapi_validator
):
    api = traefik(
        {
            "users": serve(users_spec()),  # an older service: no /asyncapi.json
            "auth": serve(auth_spec(), events=auth_events()),
        }
    )
    document = make_app(DOCS_TRAEFIK_API=api).test_client().get("/apidocs/asyncapi.json")
    document = document.get_json()
    assert_valid(asyncapi_validator, document)
    assert document["x-unavailable-services"] == ["users"]
    assert parties(document, DELETED) == {"send": [], "receive": ["auth"]}
    # The consumer's channel stands in: data is whatever its producer says.
    assert (
        "properties"
        not in document["channels"][DELETED]["messages"][DELETED]["payload"]["properties"]["data"]
    )


def test_a_document_that_is_not_asyncapi_3_is_left_out(serve, traefik, make_app):
    asyncapi_2 = {"asyncapi": "2.6.0", "info": {"title": "old", "version": "1"}, "channels": []}
    api = traefik({"users": serve(users_spec(), events=asyncapi_2)})
    document = make_app(DOCS_TRAEFIK_API=api).test_client().get("/apidocs/asyncapi.json")
    assert document.get_json()["x-unavailable-services"] == ["users"]


def test_catalog_reads_each_type_with_its_fields():
    merged = merge_events(
        {"users": users_events(), "orders": orders_events(), "auth": auth_events()}
    )
    entries = {entry.name: entry for entry in catalog(merged)}
    placed = entries[PLACED]
    assert (placed.producers, placed.consumers, placed.summary) == (
        ["orders"],
        ["users"],
        "An order was placed.",
    )
    fields = {field.name: field for field in placed.fields}
    assert list(fields) == ["id", "currency", "lines", "lines[].sku", "lines[].quantity"]
    assert fields["id"].type == "string (uuid)" and fields["id"].required
    assert fields["currency"].notes == "one of EUR, USD"
    assert fields["lines"].type == "array of object"
    assert fields["lines[].sku"].notes == "min length 1; max length 40"
    nickname = next(f for f in entries[REGISTERED].fields if f.name == "nickname")
    assert (nickname.type, nickname.required) == ("string or null", False)


class Tables(HTMLParser):
    """Each event section's heading id, and the text of its table rows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {}
        self.scripts = 0
        self._current: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag == "h2":
            self._current = self.sections.setdefault(str(dict(attrs).get("id")), [])
        elif tag == "tr" and self._current is not None:
            self._current.append([])
        elif tag in ("td", "th") and self._current is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._current:
            self._current[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_page_has_a_table_per_type_with_producer_consumers_and_fields(client):
    response = client.get("/apidocs/events")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = Tables(response.get_data(as_text=True))
    assert page.scripts == 0  # server-rendered, no framework, nothing from a CDN
    assert sorted(page.sections) == [PLACED, DELETED, REGISTERED]
    rows = page.sections[DELETED]
    assert rows[0] == ["Producer", "users"]
    assert rows[1] == ["Consumers", "auth, orders"]
    assert rows[2] == ["data field", "type", "required", "notes"]
    assert ["id", "string (uuid)", "yes", ""] in rows
    assert ["deleted_at", "string (date-time)", "yes", ""] in rows


def test_the_page_says_what_is_unavailable(serve, traefik, make_app, closed_url):
    api = traefik({"users": closed_url, "auth": serve(auth_spec(), events=auth_events())})
    html = make_app(DOCS_TRAEFIK_API=api).test_client().get("/apidocs/events").get_data(True)
    assert "Unavailable right now, so left out: users." in html
    assert "whose document is unavailable" in html


def test_swagger_ui_links_to_the_events_catalog(client):
    html = client.get("/apidocs/").get_data(as_text=True)
    assert 'href="/apidocs/events"' in html
    assert 'href="/apidocs/asyncapi.json"' in html
