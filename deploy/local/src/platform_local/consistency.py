"""Is every service wired everywhere? The few shared lists of services, and their check.

A service is a folder ``services/<name>/`` (and its Kubernetes folders, deploy/k8s/base/<name>/
and deploy/k8s/overlays/dev/services/<name>/). Whatever can discover services does (the
Makefile, tox (toxfile.py), `platform up`, the docs, the CI matrix, the Kubernetes images and
routes, compose's passwords). What cannot is a line per service in three files, each entry a
Place below that finds, adds and removes one service's entry: docker-compose.yml's ``include``,
and the kustomizations of deploy/k8s's base (the service's folder, the docs' DOCS_SERVICES) and
dev overlay (its database).
``platform check`` and deploy/local/tests fail when a service is missing from a place, or a
place names a service that has no folder; ``platform new-service`` and ``remove-service`` edit
the files through the same places.

Places edit text, not parsed YAML: the files keep their comments and layout. A new service's
entry is a copy of the last service's entry with the name replaced.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from platform_local.gateway import PORTS, docker_labels
from platform_local.services import API_PREFIX, Service, declared_port

SERVICES = "services"
# Packages that are not services but that some places list like one (Kubernetes' resources):
# the names they may use, and the folder that must exist for them.
COMPONENTS = {"common": "libs/common", "docs": "deploy/docs", "local": "deploy/local"}
K8S = "deploy/k8s"
BASE = f"{K8S}/base/kustomization.yaml"
DEV = f"{K8S}/overlays/dev"
# How a service's name appears in the patterns below; in a generic search, any name (captured).
NAME, ANY_NAME = "{name}", "(?P<name>[a-z][a-z0-9]*)"


class WiringError(Exception):
    """A place cannot take or give up a service's entry (its file does not look as expected)."""


def _pattern(template: str, name: str | None) -> re.Pattern[str]:
    """A regex from a place's template: one service's name, or any name (captured)."""
    if name is None:
        regex = template.replace(NAME, ANY_NAME, 1).replace(NAME, "(?P=name)")
    else:
        regex = template.replace(NAME, re.escape(name))
    return re.compile(regex, re.MULTILINE)


def rename(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` renamed ``new`` where no letter or digit touches it."""
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, text)


@dataclass(frozen=True)
class Place:
    """A file that lists services; only applies when ``scope`` (a path) exists."""

    path: str
    what: str
    scope: str = ""

    def applies(self, root: Path) -> bool:
        """Whether the repository has this place at all (e.g. deploy/k8s)."""
        return (root / self.scope).exists()

    def names(self, root: Path) -> list[str]:
        """The service names this place lists (raise WiringError if it cannot tell)."""
        raise NotImplementedError

    def missing(self, name: str) -> str:
        """The problem of a service this place lacks."""
        return f"{self.path}: no {self.what} for {name}"

    def stale(self, name: str) -> str:
        """The problem of an entry naming a service that has no folder."""
        return f"{self.path}: {self.what} for {name}, which has no folder services/{name}/"


@dataclass(frozen=True)
class TextPlace(Place):
    """A shared file with an entry per service, edited as text."""

    def read(self, root: Path) -> str:
        """The file's text; a missing file is a WiringError."""
        try:
            return (root / self.path).read_text()
        except FileNotFoundError:
            raise WiringError(f"{self.path}: missing") from None

    def add(self, text: str, name: str, services: list[str]) -> str:
        """``text`` with an entry for ``name``, copied from the last of ``services`` listed."""
        raise NotImplementedError

    def remove(self, text: str, name: str) -> str:
        """``text`` without the entry of ``name``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Lines(TextPlace):
    """One line per service, matching ``entry`` (``  - services/users/compose.yaml``)."""

    entry: str = ""

    def names(self, root: Path) -> list[str]:
        """Every name an entry line carries."""
        return [m["name"] for m in _pattern(f"^{self.entry}$", None).finditer(self.read(root))]

    def _line(self, text: str, name: str) -> re.Match[str] | None:
        return _pattern(f"^{self.entry}\n", name).search(text)

    def add(self, text: str, name: str, services: list[str]) -> str:
        """Insert a renamed copy of the last listed service's line after it."""
        if self._line(text, name) is not None:
            return text
        lines = [(m.end(), s) for s in services if (m := self._line(text, s)) is not None]
        if not lines:
            raise WiringError(f"{self.path}: no service's {self.what} to copy for {name}")
        end, last = max(lines)
        start = text.rfind("\n", 0, end - 1) + 1
        return text[:end] + rename(text[start:end], last, name) + text[end:]

    def remove(self, text: str, name: str) -> str:
        """Delete ``name``'s line, if any."""
        line = self._line(text, name)
        return text if line is None else text[: line.start()] + text[line.end() :]


@dataclass(frozen=True)
class Items(TextPlace):
    """One line of items, one per service (``- DOCS_SERVICES=users=http://users,...``).

    ``line`` matches the whole line and captures the items as ``items``; ``item`` is how an
    item names its service.
    """

    line: str = ""
    separator: str = ", "
    item: str = NAME

    def _match(self, text: str) -> re.Match[str] | None:
        return re.search(f"^{self.line}$", text, re.MULTILINE)

    def _items(self, text: str) -> tuple[re.Match[str], list[str]]:
        match = self._match(text)
        if match is None:
            raise WiringError(f"{self.path}: no line like /{self.line}/ to list services in")
        items = [item.strip() for item in match.group("items").split(self.separator.strip())]
        return match, [item for item in items if item]

    def _name(self, item: str) -> str | None:
        found = _pattern(f"^{self.item}$", None).match(item)
        return found["name"] if found else None

    def names(self, root: Path) -> list[str]:
        """Every name the line's items carry."""
        return [name for item in self._items(self.read(root))[1] if (name := self._name(item))]

    def _replace(self, text: str, match: re.Match[str], items: list[str]) -> str:
        start, end = match.span("items")
        return text[:start] + self.separator.join(items) + text[end:]

    def add(self, text: str, name: str, services: list[str]) -> str:
        """Insert a renamed copy of the last listed service's item after it."""
        match, items = self._items(text)
        names = [self._name(item) for item in items]
        if name in names:
            return text
        listed = [i for i, found in enumerate(names) if found in services]
        if not listed:
            raise WiringError(f"{self.path}: no service's {self.what} to copy for {name}")
        last = listed[-1]
        items.insert(last + 1, rename(items[last], str(names[last]), name))
        return self._replace(text, match, items)

    def remove(self, text: str, name: str) -> str:
        """Drop ``name``'s item, if any."""
        match, items = self._items(text)
        return self._replace(text, match, [i for i in items if self._name(i) != name])


@dataclass(frozen=True)
class Files(Place):
    """A file or folder (``path`` ending in /) each service has, written by the template."""

    def names(self, root: Path) -> list[str]:
        """The names of the files or folders that exist."""
        pattern = _pattern(f"^{re.escape(self.path).replace(re.escape(NAME), NAME)}$", None)
        candidates = root.glob(self.path.replace(NAME, "*").rstrip("/"))
        paths = [p.relative_to(root).as_posix() + ("/" if p.is_dir() else "") for p in candidates]
        return sorted(m["name"] for p in paths if (m := pattern.match(p)))

    def of(self, root: Path, name: str) -> Path:
        """The path of ``name``'s file or folder."""
        return root / self.path.replace(NAME, name)

    def missing(self, name: str) -> str:
        """The problem of a service without this file."""
        return f"{self.path.replace(NAME, name)}: missing ({name}'s {self.what})"

    def stale(self, name: str) -> str:
        """The problem of a file left behind by a removed service."""
        where = self.path.replace(NAME, name)
        return f"{where}: {self.what} of {name}, which has no folder services/{name}/"


# Every place outside services/<name>/ that names each service, in the order they are edited.
PLACES: tuple[Place, ...] = (
    Lines("docker-compose.yml", "include", entry=r"  - services/{name}/compose\.yaml"),
    # Kubernetes (deploy/k8s/README.md), when the repository has it: the service's folders
    # (written by the template), and one line in each kustomization that lists services.
    Files(f"{K8S}/base/{NAME}/", "manifests folder", scope=K8S),
    Files(f"{DEV}/services/{NAME}/", "dev database and Secret", scope=K8S),
    Lines(BASE, "resource", scope=K8S, entry=r"  - {name}"),
    Items(
        BASE,
        "DOCS_SERVICES entry",
        scope=K8S,
        line=r" *- DOCS_SERVICES=(?P<items>.*)",
        separator=",",
        item="{name}=http://{name}",
    ),
    Lines(f"{DEV}/kustomization.yaml", "resource", scope=K8S, entry=r"  - services/{name}"),
)


def service_names(root: Path) -> list[str]:
    """The folders in services/, by name."""
    return sorted(
        p.name for p in (root / SERVICES).iterdir() if p.is_dir() and p.name[0] not in "._"
    )


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _labels(service: dict[str, Any]) -> dict[str, str]:
    labels = service.get("labels") or {}
    if isinstance(labels, list):  # compose also accepts ["key=value", ...]
        labels = dict(item.split("=", 1) for item in labels)
    return {str(k): str(v) for k, v in labels.items()}


def _inherited(compose_file: Path, service: dict[str, Any], key: str) -> Any:
    """``key`` of a compose service, or of the service it extends (deploy/compose/base.yaml)."""
    if key in service:
        return service[key]
    extends = service.get("extends") or {}
    if not extends.get("file"):
        return None
    base = _load_yaml((compose_file.parent / extends["file"]).resolve())
    return base.get("services", {}).get(extends.get("service"), {}).get(key)


def _has_healthcheck(compose_file: Path, service: dict[str, Any]) -> bool:
    """Its own healthcheck, or one of the service it extends (deploy/compose/base.yaml)."""
    return _inherited(compose_file, service, "healthcheck") is not None


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # compose also accepts ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _waits_for(service: dict[str, Any], other: str) -> bool:
    depends_on = service.get("depends_on") or {}
    if not isinstance(depends_on, dict):  # the short form, a list, waits only for a start
        return False
    return (depends_on.get(other) or {}).get("condition") == "service_healthy"


# A service's events processes: (compose suffix, `flask events` command, when it needs one).
EVENTS_PROCESSES = (
    ("relay", "relay", "it has events.py"),
    ("consumer", "consume", "its handlers.py registers handlers"),
)


def _runs(service: Service, kind: str) -> bool:
    return service.publishes if kind == "relay" else service.consumes


def events_problems(root: Path, name: str, services: dict[str, Any]) -> list[str]:
    """services/<name>/compose.yaml's relay and consumer: there exactly when the service
    publishes or consumes, running its image and database, waiting for it to be healthy."""
    where = f"{SERVICES}/{name}/compose.yaml"
    path = root / where
    service, app = Service(name, 0, root / SERVICES / name), services[name]
    problems = []
    for kind, command, because in EVENTS_PROCESSES:
        block = services.get(f"{name}-{kind}")
        if block is None:
            if _runs(service, kind):
                problems.append(f"{where}: no service {name}-{kind} ({because})")
            continue
        if not _runs(service, kind):
            problems.append(f"{where}: {name}-{kind}, but not {because} (it would exit at once)")
            continue
        ran = _inherited(path, block, "command") or []
        ran = ran.split() if isinstance(ran, str) else list(ran)
        if ran[-2:] != ["events", command]:
            problems.append(f"{where}: {name}-{kind} does not run `flask events {command}`")
        if block.get("image") != app.get("image"):
            problems.append(f"{where}: {name}-{kind} does not run the image of {name}")
        url = _environment(app).get("DATABASE_URL")
        if _environment(block).get("DATABASE_URL") != url:
            problems.append(f"{where}: {name}-{kind} has not the DATABASE_URL of {name}")
        if not _waits_for(block, name):
            problems.append(f"{where}: {name}-{kind} does not wait for {name} to be healthy")
        if not _has_healthcheck(path, block):
            problems.append(f"{where}: {name}-{kind} has no healthcheck")
    return problems


def k8s_events_problems(root: Path, name: str) -> list[str]:
    """deploy/k8s/base/<name>/events/ deploys a relay and a consumer exactly when compose does
    (its kustomization's resources list relay.yaml and consumer.yaml)."""
    path = root / K8S / "base" / name / "events" / "kustomization.yaml"
    where = path.relative_to(root).as_posix()
    if not path.parent.parent.is_dir():
        return []  # the manifests folder's own place reports it
    if not path.exists():
        return [f"{where}: missing (the relay and consumer of {name})"]
    listed = set((_load_yaml(path) or {}).get("resources") or [])
    service = Service(name, 0, root / SERVICES / name)
    problems = []
    for kind, _command, because in EVENTS_PROCESSES:
        if _runs(service, kind) and f"{kind}.yaml" not in listed:
            problems.append(f"{where}: no {kind}.yaml in resources ({because})")
        elif f"{kind}.yaml" in listed and not _runs(service, kind):
            problems.append(f"{where}: {kind}.yaml in resources, but not {because}")
    return problems


def compose_problems(root: Path, name: str) -> list[str]:
    """What services/<name>/compose.yaml lacks: its database, health, the gateway's labels."""
    path = root / SERVICES / name / "compose.yaml"
    where = path.relative_to(root).as_posix()
    if not path.exists():
        return [f"{where}: missing"]
    services = (_load_yaml(path) or {}).get("services") or {}
    database, app = services.get(f"{name}-db"), services.get(name)
    problems = []
    if database is None:
        problems.append(f"{where}: no service {name}-db (its own PostgreSQL)")
    elif not _has_healthcheck(path, database):
        problems.append(f"{where}: {name}-db has no healthcheck")
    if app is None:
        return [*problems, f"{where}: no service {name}"]
    if database is not None and not _waits_for(app, f"{name}-db"):
        problems.append(f"{where}: {name} does not wait for {name}-db to be healthy")
    # Replicas (`docker compose up --scale <name>=3`, likewise its relay and consumer): a fixed
    # container name or a host port would be taken twice.
    for block in (name, *(f"{name}-{kind}" for kind, _, _ in EVENTS_PROCESSES)):
        for key in ("container_name", "ports"):
            if key in (services.get(block) or {}):
                problems.append(f"{where}: {block} sets {key}: it cannot run as several replicas")
    # The gateway's labels: what `platform up` gives the service (platform_local/gateway.py), its
    # router, its retry router with the retry rule, its load balancer's health check.
    labels = _labels(app)
    for key, value in docker_labels(name, f"{API_PREFIX}/{name}").items():
        if labels.get(key) != value:
            problems.append(f"{where}: {name} lacks the label {key}: {value}")
    return problems + events_problems(root, name, services)


def port_problems(root: Path, names: list[str]) -> list[str]:
    """Each service needs its own [tool.platform] port, none of the platform's."""
    problems, owners = [], {port: f"the {what}" for what, port in PORTS.items()}
    for name in names:
        where = f"{SERVICES}/{name}/pyproject.toml"
        port = declared_port(root / SERVICES / name)
        if not (root / where).exists():
            problems.append(f"{SERVICES}/{name}/: no pyproject.toml")
        elif port is None:
            problems.append(f"{where}: no [tool.platform] port")
        elif port in owners:
            problems.append(f"{where}: [tool.platform] port {port} is taken by {owners[port]}")
        else:
            owners[port] = f"{SERVICES}/{name}"
    return problems


def place_problems(root: Path, place: Place, names: list[str]) -> list[str]:
    """Services missing from ``place``, and the names it lists that are no service."""
    if not place.applies(root):
        return []
    try:
        listed = place.names(root)
    except WiringError as error:
        return [str(error)]
    components = {c for c, folder in COMPONENTS.items() if (root / folder).is_dir()}
    missing = [place.missing(n) for n in names if n not in listed]
    stale = [
        place.stale(n) for n in dict.fromkeys(listed) if n not in names and n not in components
    ]
    return missing + stale


def problems(root: Path) -> list[str]:
    """Everything that is not wired consistently; empty when all is well."""
    names = service_names(root)
    found = port_problems(root, names)
    for name in names:
        found += compose_problems(root, name)
        if (root / K8S).is_dir():
            found += k8s_events_problems(root, name)
    for place in PLACES:
        found += place_problems(root, place, names)
    return found


def check(root: Path) -> int:
    """Print what is not wired consistently; return the exit status (``platform check``)."""
    found = problems(root)
    if found:
        print("platform check: not wired consistently:\n" + "\n".join(f"  {p}" for p in found))
        return 1
    print(f"platform check: {len(service_names(root))} services, each wired everywhere.")
    return 0
