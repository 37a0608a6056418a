"""One OpenAPI 3.0 document out of every service's, as the gateway serves them.

Paths are kept as they are (each service owns its prefix). A component every service that
defines it defines alike (the platform's ``Envelope``, ``Error``, ``Meta``, error responses,
``bearerAuth``) is kept once under its own name; one whose definitions differ is namespaced in
every service that has it, ``User`` of ``users`` becoming ``users.User``, and every local
``$ref`` and security requirement follows. Operation ids are kept too unless two services use
the same one, and Link objects follow their renamed operation. Not handled, because no service
here produces them: discriminator mappings and ``operationRef``.
"""

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from common.swagger import OPENAPI_VERSION

log = logging.getLogger(__name__)

Spec = dict[str, Any]
# A component in a document: (kind, name), e.g. ("schemas", "User").
Key = tuple[str, str]

TITLE = "Platform API"
# The version of the merged document's shape; each service's own version is in the description.
VERSION = "1.0.0"
UNAVAILABLE = "x-unavailable-services"
# Component names must match ^[a-zA-Z0-9.\-_]+$; a dot reads as "this service's".
SEPARATOR = "."
SECURITY_SCHEMES = "securitySchemes"
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_COMPONENT_REF = re.compile(r"#/components/(?P<kind>[^/]+)/(?P<name>[^/]+)(?P<rest>/.*)?")


def namespaced(service: str, name: str) -> str:
    """Return the merged document's name of a service's component or operation id."""
    return f"{service}{SEPARATOR}{name}"


def with_prefix(spec: Spec, prefix: str) -> Spec:
    """Return ``spec`` with every path starting with the service's router ``prefix``.

    The copy is shallow: the result shares path items with ``spec``, which stays unchanged.
    """
    paths = spec.get("paths", {})
    return {
        **spec,
        "paths": {
            path if path.startswith(prefix) else prefix.rstrip("/") + path: item
            for path, item in paths.items()
        },
    }


def for_gateway(spec: Spec, *, prefix: str, server_url: str) -> Spec:
    """Return a service's own document, its requests sent through the gateway at ``server_url``."""
    document = with_prefix(spec, prefix)
    document["servers"] = [{"url": server_url}]
    return document


def merge(specs: Mapping[str, Spec], *, server_url: str, unavailable: Iterable[str] = ()) -> Spec:
    """Merge documents (service name -> document with gateway paths) into one for the gateway.

    :param unavailable: services whose document could not be fetched, listed in
        ``x-unavailable-services`` and in the description instead.
    """
    missing = sorted(unavailable)
    merged: Spec = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": VERSION, "description": _description(specs, missing)},
        "servers": [{"url": server_url}],
        "tags": [],
        "paths": {},
        "components": {},
        UNAVAILABLE: missing,
    }
    owners = _path_owners(specs)
    components = _component_names(specs)
    operation_ids = _operation_ids(specs, owners)
    for name in sorted(specs):
        _add(merged, name, specs[name], owners, components[name], operation_ids[name])
    return merged


def _description(specs: Mapping[str, Spec], missing: list[str]) -> str:
    """Say what the document holds (Markdown: Swagger UI renders it under the title)."""
    lines = ["Every service's API as the gateway serves it, from their live OpenAPI documents."]
    if specs:
        lines.append("")
    for name in sorted(specs):
        info = specs[name].get("info", {})
        lines.append(f"- **{name}**: {info.get('title', name)} {info.get('version', '')}".rstrip())
    if missing:
        lines += ["", f"Unavailable right now, so left out: {', '.join(missing)}."]
    return "\n".join(lines)


def _path_owners(specs: Mapping[str, Spec]) -> dict[str, str]:
    """Return the service documenting each path: a path two services claim goes to the first."""
    owners: dict[str, str] = {}
    for service in sorted(specs):
        for path in specs[service].get("paths", {}):
            if path in owners:
                log.warning("%s: %s is documented by %s; skipped", service, path, owners[path])
            else:
                owners[path] = service
    return owners


def _components(spec: Spec) -> Iterator[tuple[Key, Any]]:
    """Yield every component of ``spec`` with its key; extensions (``x-...``) are not maps."""
    for kind, items in spec.get("components", {}).items():
        if not kind.startswith("x-"):
            for name, value in items.items():
                yield (kind, name), value


def _component_names(specs: Mapping[str, Spec]) -> dict[str, dict[Key, str]]:
    """Name each service's components in the merged document (service -> key -> name).

    A key whose definitions all agree is shared under its name, else every service's is
    namespaced. Equal definitions still differ once merged if they refer to a component that
    is namespaced (each service's ``Envelope`` pointing at its own ``Meta``), so namespacing
    spreads along references until nothing changes.
    """
    definitions: dict[Key, dict[str, Any]] = {}
    for service, spec in specs.items():
        for key, value in _components(spec):
            definitions.setdefault(key, {})[service] = value
    split = {key for key, values in definitions.items() if _differ(values.values())}
    spreading = True
    while spreading:
        spreading = False
        for key, values in definitions.items():
            shared = len(values) > 1 and key not in split
            if shared and _refers_to(next(iter(values.values())), split):
                split.add(key)
                spreading = True
    return {
        service: {
            key: namespaced(service, key[1]) if key in split else key[1]
            for key, values in definitions.items()
            if service in values
        }
        for service in specs
    }


def _differ(values: Iterable[Any]) -> bool:
    """Return whether the definitions are not all equal."""
    first, *others = values
    return any(other != first for other in others)


def _refers_to(node: Any, keys: set[Key]) -> bool:
    """Return whether ``node`` holds a ``$ref`` to one of the components ``keys``."""
    if isinstance(node, list):
        return any(_refers_to(item, keys) for item in node)
    if isinstance(node, dict):
        ref = node.get("$ref")
        match = _COMPONENT_REF.fullmatch(ref) if isinstance(ref, str) else None
        if match is not None and (match["kind"], match["name"]) in keys:
            return True
        return any(_refers_to(value, keys) for value in node.values())
    return False


def _operations(spec: Spec, service: str, owners: Mapping[str, str]) -> Iterator[Spec]:
    """Yield the operations of ``spec`` that the merged document keeps."""
    for path, item in spec.get("paths", {}).items():
        if owners[path] == service:
            yield from (item[method] for method in sorted(METHODS & item.keys()))


def _operation_ids(
    specs: Mapping[str, Spec], owners: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Name each service's operation ids (service -> id -> merged id): namespaced on collision."""
    users: dict[str, set[str]] = {}
    for service, spec in specs.items():
        for operation in _operations(spec, service, owners):
            if "operationId" in operation:
                users.setdefault(operation["operationId"], set()).add(service)
    return {
        service: {
            op_id: namespaced(service, op_id) if len(services) > 1 else op_id
            for op_id, services in users.items()
            if service in services
        }
        for service in specs
    }


def _add(
    merged: Spec,
    service: str,
    spec: Spec,
    owners: Mapping[str, str],
    names: Mapping[Key, str],
    operation_ids: Mapping[str, str],
) -> None:
    """Add one service's document to ``merged`` (``spec`` itself is left unchanged)."""
    spec = _rewrite_refs(spec, names)  # a copy: from here on, changes are ours
    for key, value in _components(spec):
        merged["components"].setdefault(key[0], {})[names[key]] = value
    for link in _links(spec):
        if link.get("operationId") in operation_ids:
            link["operationId"] = operation_ids[link["operationId"]]
    # Security requirements name their scheme rather than $ref it.
    schemes = {name: merged for (kind, name), merged in names.items() if kind == SECURITY_SCHEMES}
    for operation in _operations(spec, service, owners):
        _adopt(operation, service, spec.get("security"), schemes, operation_ids)
    for path, item in spec.get("paths", {}).items():
        if owners[path] == service:
            merged["paths"][path] = item
    title = spec.get("info", {}).get("title", service)
    merged["tags"].append({"name": service, "description": title})


def _links(spec: Spec) -> Iterator[Spec]:
    """Yield every Link object of ``spec``: in components and in each operation's responses."""
    components = spec.get("components", {})
    responses = list(components.get("responses", {}).values())
    for item in spec.get("paths", {}).values():
        for method in METHODS & item.keys():
            responses += item[method].get("responses", {}).values()
    yield from components.get("links", {}).values()
    for response in responses:
        yield from response.get("links", {}).values()


def _adopt(
    operation: Spec,
    service: str,
    default_security: Any,
    schemes: Mapping[str, str],
    operation_ids: Mapping[str, str],
) -> None:
    """Tag an operation with its service and give it its merged names."""
    operation["tags"] = [service]
    if "operationId" in operation:
        operation["operationId"] = operation_ids[operation["operationId"]]
    # A service's top-level security would cover every service once merged: push it down.
    security = operation.get("security", default_security)
    if security is not None:
        operation["security"] = [
            {schemes.get(name, name): scopes for name, scopes in requirement.items()}
            for requirement in security
        ]


def _rewrite_refs(node: Any, names: Mapping[Key, str]) -> Any:
    """Return a copy of ``node`` whose local component ``$ref`` point at their merged names."""
    if isinstance(node, list):
        return [_rewrite_refs(item, names) for item in node]
    if isinstance(node, dict):
        return {
            key: _merged_ref(value, names)
            if key == "$ref" and isinstance(value, str)
            else _rewrite_refs(value, names)
            for key, value in node.items()
        }
    return node


def _merged_ref(ref: str, names: Mapping[Key, str]) -> str:
    """Return ``ref`` rewritten for the merged document; other refs are left as they are."""
    match = _COMPONENT_REF.fullmatch(ref)
    if match is None or (match["kind"], match["name"]) not in names:
        return ref
    name = names[match["kind"], match["name"]]
    return f"#/components/{match['kind']}/{name}{match['rest'] or ''}"
