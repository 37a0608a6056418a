"""One OpenAPI 3.0 document out of every service's, as the gateway serves them.

Paths are kept as they are (each service owns its prefix). Components are namespaced per
service, ``User`` of ``users`` becoming ``users.User``, and every local ``$ref`` follows, so two
services' ``User`` or ``Envelope`` never collide. Security schemes are referenced by name, not
``$ref``: identical ones are shared under their name and only a conflicting one is renamed.
Not handled, because no service here produces them: discriminator mappings and the
``operationId`` of Link objects.
"""

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from common.swagger import OPENAPI_VERSION

log = logging.getLogger(__name__)

Spec = dict[str, Any]

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
    for name in sorted(specs):
        _add(merged, name, specs[name])
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


def _add(merged: Spec, service: str, spec: Spec) -> None:
    """Add one service's document to ``merged`` (``spec`` itself is left unchanged)."""
    schemes = _scheme_names(merged["components"].get(SECURITY_SCHEMES, {}), service, spec)
    spec = _rewrite_refs(spec, service, schemes)  # a copy: from here on, changes are ours
    for kind, items in spec.get("components", {}).items():
        if kind.startswith("x-"):  # an extension, not a map of components
            continue
        target = merged["components"].setdefault(kind, {})
        for name, value in items.items():
            target[schemes[name] if kind == SECURITY_SCHEMES else namespaced(service, name)] = value
    for path, item in spec.get("paths", {}).items():
        if path in merged["paths"]:
            log.warning("%s: %s is already documented by another service; skipped", service, path)
            continue
        for method in METHODS & item.keys():
            _adopt(item[method], service, spec.get("security"), schemes)
        merged["paths"][path] = item
    title = spec.get("info", {}).get("title", service)
    merged["tags"].append({"name": service, "description": title})


def _scheme_names(merged: Mapping[str, Any], service: str, spec: Spec) -> dict[str, str]:
    """Name each security scheme of ``spec`` in the merged document: shared unless it conflicts."""
    schemes = spec.get("components", {}).get(SECURITY_SCHEMES, {})
    return {
        name: name if merged.get(name, scheme) == scheme else namespaced(service, name)
        for name, scheme in schemes.items()
    }


def _adopt(
    operation: Spec, service: str, default_security: Any, schemes: Mapping[str, str]
) -> None:
    """Tag an operation with its service and make its names unique in the merged document."""
    operation["tags"] = [service]
    if "operationId" in operation:
        operation["operationId"] = namespaced(service, operation["operationId"])
    # A service's top-level security would cover every service once merged: push it down.
    security = operation.get("security", default_security)
    if security is not None:
        operation["security"] = [
            {schemes.get(name, name): scopes for name, scopes in requirement.items()}
            for requirement in security
        ]


def _rewrite_refs(node: Any, service: str, schemes: Mapping[str, str]) -> Any:
    """Return a copy of ``node`` whose local component ``$ref`` point at their merged names."""
    if isinstance(node, list):
        return [_rewrite_refs(item, service, schemes) for item in node]
    if isinstance(node, dict):
        return {
            key: _merged_ref(value, service, schemes)
            if key == "$ref" and isinstance(value, str)
            else _rewrite_refs(value, service, schemes)
            for key, value in node.items()
        }
    return node


def _merged_ref(ref: str, service: str, schemes: Mapping[str, str]) -> str:
    """Return ``ref`` rewritten for the merged document; other refs are left as they are."""
    match = _COMPONENT_REF.fullmatch(ref)
    if match is None:
        return ref
    kind, name = match["kind"], match["name"]
    name = schemes.get(name, name) if kind == SECURITY_SCHEMES else namespaced(service, name)
    return f"#/components/{kind}/{name}{match['rest'] or ''}"
