"""The aggregated API docs the gateway serves at /apidocs/ (the docs service).

Skipped while the gateway does not route /apidocs yet (its own 404), so these tests start
running the day the docs service joins the platform.
"""

import uuid
from typing import Any

import pytest
import requests
from api_client import SERVICES, Account, ApiClient, answered_by_a_service, bearer, describe
from openapi_spec_validator import validate

MERGED = "/apidocs/openapi.json"
# What libs/common writes into every service's document: the merge keeps one copy of each.
PLATFORM_SCHEMAS = ("Envelope", "Error", "ErrorEnvelope", "Meta", "PageMeta")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module", autouse=True)
def docs_behind_gateway(api: ApiClient) -> None:
    """Skip the module while the gateway does not route the docs yet."""
    if api.get(MERGED).status_code == 404:
        pytest.skip(f"the docs service is not behind the gateway yet: GET {MERGED} answered 404")


@pytest.fixture(scope="module")
def merged_spec(api: ApiClient) -> dict[str, Any]:
    """The merged OpenAPI document of every service."""
    response = api.get(MERGED)
    assert response.status_code == 200, describe(response)
    spec: dict[str, Any] = response.json()
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (path, method, operation) the document declares."""
    return [
        (path, method, item[method])
        for path, item in spec["paths"].items()
        for method in HTTP_METHODS
        if method in item
    ]


def concrete(path: str) -> str:
    """The path with every ``{parameter}`` replaced by a random UUID (ids are UUIDs here)."""
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
    return path


def call(
    api: ApiClient, spec: dict, path: str, method: str, op: dict, token: str
) -> requests.Response:
    """Call an operation as a reader of the document would.

    A token where security is declared, an empty JSON object where a body is expected: a
    validation error is an answer too, and nothing is created.
    """
    secured = op.get("security", spec.get("security"))
    headers = bearer(token) if secured else {}
    body: dict | None = {} if "requestBody" in op else None
    return api.request(method.upper(), concrete(path), json=body, headers=headers)


def answers_as_documented(response: requests.Response, op: dict) -> bool:
    """A documented status, and a JSON body (in the envelope when it has a meta)."""
    if str(response.status_code) not in op["responses"] and "default" not in op["responses"]:
        return False
    if response.status_code == 204:
        return not response.content
    try:
        body = response.json()
    except ValueError:
        return False
    meta = body.get("meta") if isinstance(body, dict) else None
    return meta is None or meta.get("request_id") == response.headers["X-Request-ID"]


def test_docs_page_is_html(api: ApiClient) -> None:
    response = api.get("/apidocs/")

    assert response.status_code == 200, describe(response)
    assert response.headers["Content-Type"].startswith("text/html")


def test_docs_page_serves_a_current_swagger_ui_from_the_platform(api: ApiClient) -> None:
    # The dist's VERSION file names the Swagger UI release the page loads (no CDN: from here).
    response = api.get("/apidocs/static/VERSION")

    assert response.status_code == 200, describe(response)
    assert response.text.startswith("v5."), response.text


def test_merged_document_is_valid_openapi(merged_spec: dict) -> None:
    validate(merged_spec)


def test_merged_document_holds_the_platform_components_once(merged_spec: dict) -> None:
    components = merged_spec["components"]
    names = set(components["schemas"])

    assert set(PLATFORM_SCHEMAS) <= names
    copies = [name for name in names if name.split(".")[-1] in PLATFORM_SCHEMAS and "." in name]
    assert not copies, f"per-service copies of the platform's components: {sorted(copies)}"
    assert list(components["securitySchemes"]) == ["bearerAuth"]


def test_merged_document_keeps_each_services_operation_ids(
    api: ApiClient, merged_spec: dict
) -> None:
    merged_ids = [op.get("operationId") for _, _, op in operations(merged_spec)]
    own_ids = []
    for service in SERVICES:
        own = api.get(f"/apidocs/specs/{service}.json").json()
        own_ids += [op.get("operationId") for _, _, op in operations(own)]

    assert None not in merged_ids, "every operation has an operationId"
    # The services' ids are unique across the platform, so the merge keeps them as written.
    assert sorted(merged_ids) == sorted(own_ids)
    assert len(set(merged_ids)) == len(merged_ids)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_merged_document_holds_every_operation_of(
    api: ApiClient, merged_spec: dict, service: str
) -> None:
    response = api.get(f"/apidocs/specs/{service}.json")
    assert response.status_code == 200, describe(response)

    own = {(path, method) for path, method, _ in operations(response.json())}
    merged = {(path, method) for path, method, _ in operations(merged_spec)}

    assert own, f"{service} documents no operation"
    assert own <= merged, f"missing from the merged document: {sorted(own - merged)}"


def test_every_documented_operation_is_answered_by_a_service(
    api: ApiClient, merged_spec: dict, user: Account
) -> None:
    wrong = []
    for path, method, op in operations(merged_spec):
        response = call(api, merged_spec, path, method, op, user.access_token)
        if not (answered_by_a_service(response) and answers_as_documented(response, op)):
            wrong.append(describe(response))

    assert not wrong, "operations not answered as documented:\n" + "\n".join(wrong)


def _parties(document: dict[str, Any], event_type: str) -> dict[str, list[str]]:
    """The services sending and receiving ``event_type``, read from the operations' tags."""
    found: dict[str, list[str]] = {"send": [], "receive": []}
    for operation in document["operations"].values():
        if operation["channel"] == {"$ref": f"#/channels/{event_type}"}:
            found[operation["action"]] += [tag["name"] for tag in operation["tags"][:1]]
    return {action: sorted(services) for action, services in found.items()}


def test_events_catalog_names_each_types_producer_and_consumers(api: ApiClient) -> None:
    response = api.get("/apidocs/asyncapi.json")
    assert response.status_code == 200, describe(response)
    document = response.json()
    assert document["asyncapi"] == "3.0.0"
    assert document["x-unavailable-services"] == []
    deleted, placed = "users.user.deleted.v1", "orders.order.placed.v1"
    assert _parties(document, deleted) == {"send": ["users"], "receive": ["auth", "orders"]}
    assert _parties(document, placed) == {"send": ["orders"], "receive": ["users"]}
    # The data schema is the producer's, from the marshmallow schema publish validates with.
    data = document["channels"][deleted]["messages"][deleted]["payload"]["properties"]["data"]
    assert set(data["required"]) == {"id", "deleted_at"}


def test_events_catalog_page_is_html(api: ApiClient) -> None:
    response = api.get("/apidocs/events")
    assert response.status_code == 200, describe(response)
    assert response.headers["Content-Type"].startswith("text/html")
    assert 'id="users.user.deleted.v1"' in response.text
