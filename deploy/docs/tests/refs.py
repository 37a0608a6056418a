"""Walk and resolve the local ``$ref`` pointers of an OpenAPI document."""

from collections.abc import Iterator
from typing import Any


def all_refs(node: Any) -> Iterator[str]:
    """Yield every ``$ref`` value under ``node``."""
    if isinstance(node, list):
        for item in node:
            yield from all_refs(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from all_refs(value)


def resolve(document: dict[str, Any], ref: str) -> Any:
    """Return what a local ``$ref`` points at; KeyError if it points at nothing."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node
