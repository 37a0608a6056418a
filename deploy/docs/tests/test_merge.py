"""Merging documents: every path kept, components namespaced, every reference still resolving."""

from typing import Any

import pytest
from openapi_spec_validator import validate

from platform_docs.merge import for_gateway, merge, with_prefix
from tests.refs import all_refs, resolve
from tests.specs import auth_spec, orders_spec, users_spec

GATEWAY = "http://127.0.0.1:8080"
PREFIXES = {"users": "/api/v1/users", "orders": "/api/v1/orders", "auth": "/api/v1/auth"}


def merged_platform(**overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge the three fixture services the way the view does, prefixes applied."""
    specs = {"users": users_spec(), "orders": orders_spec(), "auth": auth_spec(), **overrides}
    prefixed = {name: with_prefix(spec, PREFIXES[name]) for name, spec in specs.items()}
    return merge(prefixed, server_url=GATEWAY)


def test_the_merged_document_is_valid_openapi_3():
    document = merged_platform()
    validate(document)
    assert document["openapi"] == "3.0.3"
    assert document["info"]["title"] == "Platform API"
    assert document["servers"] == [{"url": GATEWAY}]


def test_every_path_of_every_service_is_kept():
    document = merged_platform()
    assert set(document["paths"]) == {
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/api/v1/auth/login",
        "/api/v1/auth/jwks.json",
    }
    assert set(document["paths"]["/api/v1/users"]) == {"get", "post"}


def test_components_every_service_defines_alike_are_kept_once_under_their_name():
    document = merged_platform()
    components = document["components"]
    for name in ("Meta", "PageMeta", "Error", "ErrorEnvelope"):
        assert name in components["schemas"], name
    assert set(components["responses"]) == {
        "Unauthorized",
        "NotFound",
        "Conflict",
        "ValidationFailed",
        "ServiceUnavailable",
    }
    assert list(components["securitySchemes"]) == ["bearerAuth"]
    assert not [name for name in components["schemas"] if name.endswith(".Meta")]
    not_found = document["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]["404"]
    assert not_found == {"$ref": "#/components/responses/NotFound"}


def test_a_component_only_one_service_defines_keeps_its_name():
    schemas = merged_platform()["components"]["schemas"]
    assert {"UserCreate", "Order", "OrderCreate", "Tokens", "Login"} <= set(schemas)


def test_colliding_components_are_namespaced_in_every_service_each_ref_to_its_own():
    document = merged_platform()
    schemas = document["components"]["schemas"]
    assert set(schemas["users.User"]["properties"]) == {"id", "email", "name"}
    assert set(schemas["orders.User"]["properties"]) == {"id"}
    # Only orders' Envelope differs, yet no service's version passes for the platform's.
    assert {"users.Envelope", "orders.Envelope", "auth.Envelope"} <= set(schemas)
    assert "User" not in schemas and "Envelope" not in schemas

    def success_parts(path: str) -> list[dict[str, Any]]:
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        return content["application/json"]["schema"]["allOf"]

    users_get = success_parts("/api/v1/users/{user_id}")
    orders_get = success_parts("/api/v1/orders")
    assert users_get[0] == {"$ref": "#/components/schemas/users.Envelope"}
    assert users_get[1]["properties"]["data"] == {"$ref": "#/components/schemas/users.User"}
    assert orders_get[0] == {"$ref": "#/components/schemas/orders.Envelope"}
    # A reference inside a component follows too: orders' Order embeds orders' own User.
    assert schemas["Order"]["properties"]["user"] == {"$ref": "#/components/schemas/orders.User"}


def test_alike_components_referring_to_a_differing_one_are_namespaced_too():
    orders = orders_spec()
    orders["components"]["schemas"]["Meta"]["properties"]["trace_id"] = {"type": "string"}
    document = merged_platform(orders=orders)
    validate(document)
    components = document["components"]
    # Meta differs; what refers to it, directly or not, is each service's own once merged.
    for name in ("Meta", "PageMeta", "ErrorEnvelope"):
        assert {f"{s}.{name}" for s in PREFIXES} <= set(components["schemas"]), name
    assert {f"{s}.NotFound" for s in PREFIXES} <= set(components["responses"])
    assert "Meta" not in components["schemas"] and "NotFound" not in components["responses"]
    # Error refers to nothing that differs: still shared.
    assert "Error" in components["schemas"]
    error_envelope = components["schemas"]["orders.ErrorEnvelope"]["properties"]
    assert error_envelope["meta"] == {"$ref": "#/components/schemas/orders.Meta"}
    assert error_envelope["error"] == {"$ref": "#/components/schemas/Error"}


def test_every_ref_resolves():
    document = merged_platform()
    refs = set(all_refs(document))
    assert "#/components/responses/NotFound" in refs
    assert "#/components/schemas/orders.User" in refs
    for ref in refs:
        resolve(document, ref)


def test_operations_are_tagged_with_their_service_and_each_service_is_a_tag():
    document = merged_platform()
    for path, item in document["paths"].items():
        service = path.split("/")[3]
        assert all(operation["tags"] == [service] for operation in item.values()), path
    assert document["tags"] == [
        {"name": "auth", "description": "Auth service"},
        {"name": "orders", "description": "Orders service"},
        {"name": "users", "description": "Users service"},
    ]


def test_a_path_lacking_its_router_prefix_gets_it():
    assert set(with_prefix(auth_spec(), "/api/v1/auth")["paths"]) == {
        "/api/v1/auth/login",
        "/api/v1/auth/jwks.json",
    }
    # Paths that have it already are left alone.
    assert set(with_prefix(users_spec(), "/api/v1/users")["paths"]) == set(users_spec()["paths"])


def test_identical_security_schemes_are_shared_under_their_name():
    document = merged_platform()
    users_op = document["paths"]["/api/v1/users"]["get"]
    assert users_op["security"] == [{"bearerAuth": []}]


def test_a_conflicting_security_scheme_is_namespaced_and_requirements_follow():
    orders = orders_spec()
    orders["components"]["securitySchemes"]["bearerAuth"] = {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }
    document = merged_platform(orders=orders)
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"users.bearerAuth", "orders.bearerAuth", "auth.bearerAuth"}
    assert schemes["orders.bearerAuth"]["type"] == "apiKey"
    assert document["paths"]["/api/v1/orders"]["get"]["security"] == [{"orders.bearerAuth": []}]
    assert document["paths"]["/api/v1/users"]["get"]["security"] == [{"users.bearerAuth": []}]


def test_a_service_wide_security_requirement_stays_with_that_service():
    users = users_spec()
    users["security"] = [{"bearerAuth": []}]
    del users["paths"]["/api/v1/users"]["get"]["security"]
    document = merged_platform(users=users)
    assert "security" not in document
    assert document["paths"]["/api/v1/users"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/api/v1/auth/jwks.json"]["get"]


def test_operation_ids_unique_across_services_are_kept():
    users, orders = users_spec(), orders_spec()
    users["paths"]["/api/v1/users"]["get"]["operationId"] = "listUsers"
    orders["paths"]["/api/v1/orders"]["get"]["operationId"] = "listOrders"
    document = merged_platform(users=users, orders=orders)
    assert document["paths"]["/api/v1/users"]["get"]["operationId"] == "listUsers"
    assert document["paths"]["/api/v1/orders"]["get"]["operationId"] == "listOrders"


def test_an_operation_id_two_services_use_is_namespaced_and_links_follow():
    users, orders = users_spec(), orders_spec()
    users["paths"]["/api/v1/users"]["get"]["operationId"] = "list"
    orders_item = orders["paths"]["/api/v1/orders"]
    orders_item["get"]["operationId"] = "list"
    orders_item["post"]["operationId"] = "create"
    orders_item["post"]["responses"]["201"]["links"] = {"all": {"operationId": "list"}}
    document = merged_platform(users=users, orders=orders)
    validate(document)
    assert document["paths"]["/api/v1/users"]["get"]["operationId"] == "users.list"
    created = document["paths"]["/api/v1/orders"]["post"]
    assert document["paths"]["/api/v1/orders"]["get"]["operationId"] == "orders.list"
    assert created["operationId"] == "create"
    assert created["responses"]["201"]["links"] == {"all": {"operationId": "orders.list"}}


def test_a_path_two_services_claim_is_kept_once():
    impostor = users_spec()
    document = merge(
        {"users": users_spec(), "zombie": impostor}, server_url=GATEWAY, unavailable=[]
    )
    assert document["paths"]["/api/v1/users"]["get"]["tags"] == ["users"]
    validate(document)


def test_unavailable_services_are_listed():
    document = merge({"users": users_spec()}, server_url=GATEWAY, unavailable=["orders"])
    assert document["x-unavailable-services"] == ["orders"]
    assert "orders" in document["info"]["description"]
    validate(document)


def test_merging_nothing_is_still_a_valid_document():
    document = merge({}, server_url=GATEWAY, unavailable=["users"])
    validate(document)
    assert document["paths"] == {}


@pytest.mark.parametrize("name, build", [("users", users_spec), ("auth", auth_spec)])
def test_a_service_document_for_the_gateway_is_valid_and_targets_it(name, build):
    document = for_gateway(build(), prefix=PREFIXES[name], server_url=GATEWAY)
    validate(document)
    assert document["servers"] == [{"url": GATEWAY}]
    assert all(path.startswith(PREFIXES[name]) for path in document["paths"])


def test_merging_leaves_the_inputs_untouched():
    users = users_spec()
    merge({"users": users}, server_url=GATEWAY)
    assert users == users_spec()
