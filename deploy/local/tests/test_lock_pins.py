"""uv.lock and the tools pinned where the lock cannot be read yet (bootstrap, images) agree."""

import re
import tomllib

import pytest

from platform_local.services import ROOT

# Where a tool is pinned outside uv.lock: the file and the pattern that captures the version.
PINS = {
    "uv": [
        ("Makefile", r"^UV_PIN := uv==(\S+)$"),
        ("deploy/docker/service.Dockerfile", r"^ARG UV_VERSION=(\S+)$"),
        ("deploy/docs/Dockerfile", r"^ARG UV_VERSION=(\S+)$"),
        (".pre-commit-config.yaml", r"additional_dependencies: \[uv==([^\]]+)\]"),
    ],
    "ruff": [(".pre-commit-config.yaml", r"additional_dependencies: \[ruff==([^\]]+)\]")],
}


def locked_version(name: str) -> str:
    """The version uv.lock holds for ``name``."""
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    return next(package["version"] for package in packages if package["name"] == name)


@pytest.mark.parametrize("tool", sorted(PINS))
def test_a_tool_pinned_outside_the_lock_has_the_locked_version(tool):
    locked = locked_version(tool)
    for path, pattern in PINS[tool]:
        found = re.findall(pattern, (ROOT / path).read_text(), re.MULTILINE)
        assert found, f"{path}: no {tool} pin"
        assert set(found) == {locked}, f"{path} pins {tool} {found}, uv.lock has {locked}"
