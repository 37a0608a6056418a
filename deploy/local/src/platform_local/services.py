"""What the platform is made of, discovered from the repository: no list to keep in sync.

A service is a folder ``services/<name>/`` whose pyproject declares ``[tool.platform] port``
(where the no-Docker stack serves it on loopback). Its package is ``<name>_service`` and its
API lives under ``/api/v1/<name>``. Its integration events (common.events) are declared where
the contract puts them: ``events.py`` (the types it publishes, through an outbox its relay
sends; an empty one idles) and ``handlers.py`` (what its consumer handles). A consumer runs only
where handlers.py registers a handler: with none, ``flask events consume`` exits at once.
"""

import ast
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

# The repository; PLATFORM_ROOT points the command at another checkout (a test's copy).
ROOT = Path(os.environ.get("PLATFORM_ROOT") or Path(__file__).resolve().parents[4])
API_PREFIX = "/api/v1"
# Added to every port `platform up` binds, so that a second platform fits beside a running one.
PORT_OFFSET = int(os.environ.get("PLATFORM_PORT_OFFSET", "0"))


@dataclass(frozen=True)
class Service:
    """One service of the platform."""

    name: str
    port: int
    folder: Path

    @property
    def module(self) -> str:
        """The import name of its package."""
        return f"{self.name}_service"

    @property
    def prefix(self) -> str:
        """The path prefix the gateway routes to it."""
        return f"{API_PREFIX}/{self.name}"

    @property
    def ready_url(self) -> str:
        """Its readiness probe on loopback (where ``platform up`` serves it)."""
        return f"http://127.0.0.1:{self.port}/health/ready"

    @property
    def publishes(self) -> bool:
        """Whether it has an ``events.py`` (and so an outbox): it runs a relay."""
        return (self.folder / "src" / self.module / "events.py").is_file()

    @property
    def consumes(self) -> bool:
        """Whether its ``handlers.py`` registers a handler (``handlers.on(type)``): it runs a
        consumer. Read, not imported: the examples in the module's docstring do not count."""
        path = self.folder / "src" / self.module / "handlers.py"
        if not path.is_file():
            return False
        return any(
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "on"
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
        )


def discover(root: Path = ROOT, *, port_offset: int = 0) -> list[Service]:
    """Every service under ``root/services``, by name, its port shifted by ``port_offset``."""
    services = []
    for pyproject in sorted((root / "services").glob("*/pyproject.toml")):
        settings = tomllib.loads(pyproject.read_text()).get("tool", {}).get("platform", {})
        if "port" not in settings:
            raise SystemExit(f"{pyproject}: missing [tool.platform] port")
        port = int(settings["port"]) + port_offset
        services.append(Service(pyproject.parent.name, port, pyproject.parent))
    return services
