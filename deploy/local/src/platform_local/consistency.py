"""Is every service wired everywhere? The shared files that list services, and their check.

A service is a folder ``services/<name>/``. A few shared files cannot discover services and list
them instead (an include line, a password, a test env, Kubernetes entries...): each is a Place
below, which finds, adds and removes one service's entry. ``platform check`` and
deploy/local/tests fail when a service is missing from a place, or a place names a service that
has no folder; ``platform new-service`` and ``remove-service`` edit the files through the same
places, so a repository the check accepts is one the generator can wire the next service into.

Places edit text, not parsed YAML: the files keep their comments and layout. A new service's
entry is a copy of the last service's entry with the name replaced.
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from platform_local.gateway import PORTS, docker_labels
from platform_local.services import API_PREFIX, Service

SERVICES = "services"
# Packages that are not services but that some places list like one (tox envs, the CI matrix,
# Kubernetes): the names they may use, and the folder that must exist for them.
COMPONENTS = {"common": "libs/common", "docs": "deploy/docs", "local": "deploy/local"}
K8S = "deploy/k8s"
DEV = f"{K8S}/overlays/dev/kustomization.yaml"
PROD = f"{K8S}/overlays/prod/kustomization.yaml"
WORKFLOW = ".github/workflows/ci.yml"
# How a service's name appears in the patterns below, and in a generic search.
NAME, UPPER = "{name}", "{NAME}"
ANY_NAME, ANY_UPPER = "(?P<name>[a-z][a-z0-9]*)", "(?P<NAME>[A-Z][A-Z0-9]*)"


class WiringError(Exception):
    """A place cannot take or give up a service's entry (its file does not look as expected)."""


def _pattern(template: str, name: str | None) -> re.Pattern[str]:
    """A regex from a place's template: one service's name, or any name (captured)."""
    if name is None:
        regex = template.replace(NAME, ANY_NAME, 1).replace(NAME, "(?P=name)")
        regex = regex.replace(UPPER, ANY_UPPER, 1).replace(UPPER, "(?P=NAME)")
    else:
        regex = template.replace(NAME, re.escape(name)).replace(UPPER, re.escape(name.upper()))
    return re.compile(regex, re.MULTILINE)


def _found_name(match: re.Match[str]) -> str:
    groups = match.groupdict()
    return groups.get("name") or groups["NAME"].lower()


def rename(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` renamed ``new`` (either case) where no letter or digit touches it."""
    for before, after in ((old, new), (old.upper(), new.upper())):
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(before)}(?![A-Za-z0-9])", after, text)
    return text


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
    """One entry per service: a line matching ``entry``, and the lines indented below it."""

    entry: str = ""

    def names(self, root: Path) -> list[str]:
        """Every name an entry line carries."""
        return [_found_name(m) for m in _pattern(f"^{self.entry}$", None).finditer(self.read(root))]

    def span(self, text: str, name: str) -> tuple[int, int] | None:
        """Where ``name``'s entry is: its line and every following line indented deeper."""
        match = _pattern(f"^{self.entry}$", name).search(text)
        if match is None:
            return None
        line = match.group(0)
        indent = len(line) - len(line.lstrip())
        end = match.end() + 1
        for following in text[end:].splitlines(keepends=True):
            stripped = following.strip()
            if not stripped or len(following) - len(following.lstrip()) <= indent:
                break
            end += len(following)
        return match.start(), min(end, len(text))

    def add(self, text: str, name: str, services: list[str]) -> str:
        """Insert a renamed copy of the last listed service's entry after it."""
        if self.span(text, name) is not None:
            return text
        spans = [(span, s) for s in services if (span := self.span(text, s)) is not None]
        if not spans:
            raise WiringError(f"{self.path}: no service's {self.what} to copy for {name}")
        (start, end), last = max(spans)
        block = text[start:end] if text[start:end].endswith("\n") else text[start:end] + "\n"
        return text[:end] + rename(block, last, name) + text[end:]

    def remove(self, text: str, name: str) -> str:
        """Delete ``name``'s entry, if any."""
        span = self.span(text, name)
        return text if span is None else text[: span[0]] + text[span[1] :]


@dataclass(frozen=True)
class Items(TextPlace):
    """One line of items, one per service (``env_list = lint, users, orders``).

    ``line`` matches the whole line and captures the items as ``items``; ``item`` is how an
    item names its service. ``static_only``: a file without such a line (e.g. a CI matrix that
    is computed) is not a place at all.
    """

    line: str = ""
    separator: str = ", "
    item: str = NAME
    static_only: bool = False

    def applies(self, root: Path) -> bool:
        """Whether the scope exists and, for ``static_only``, the file holds the line."""
        path = root / self.path
        if not self.static_only or not (super().applies(root) and path.exists()):
            return super().applies(root)
        return self._match(path.read_text()) is not None

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
        return _found_name(found) if found else None

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
class ToxEnvList(Items):
    """tox's env_list: besides services and components it names envs of their own (lint)."""

    def names(self, root: Path) -> list[str]:
        """The items that are not defined by a ``[testenv:<item>]`` section of their own."""
        own = set(re.findall(r"^\[testenv:([a-z0-9_-]+)\]$", self.read(root), re.MULTILINE))
        return [name for name in super().names(root) if name not in own]


@dataclass(frozen=True)
class Documents(TextPlace):
    """A multi-document YAML file with documents per service: those where ``marker`` matches."""

    marker: str = ""

    @staticmethod
    def _split(text: str) -> tuple[str, list[str]]:
        """The file's leading comment (kept whatever is removed) and its documents."""
        lines = text.splitlines(keepends=True)
        head = 0
        while head < len(lines) and lines[head].startswith("#"):
            head += 1
        body = "".join(lines[head:])
        return "".join(lines[:head]), re.split(r"^---\n", body, flags=re.MULTILINE)

    @staticmethod
    def _join(head: str, documents: list[str]) -> str:
        return head + "---\n".join(documents)

    def names(self, root: Path) -> list[str]:
        """The names the documents' markers carry, once each."""
        found = _pattern(self.marker, None).finditer(self.read(root))
        return list(dict.fromkeys(_found_name(m) for m in found))

    def _owned(self, documents: list[str], name: str) -> list[int]:
        marker = _pattern(self.marker, name)
        return [i for i, doc in enumerate(documents) if marker.search(doc)]

    def add(self, text: str, name: str, services: list[str]) -> str:
        """Append renamed copies of the last listed service's documents after them."""
        head, documents = self._split(text)
        if self._owned(documents, name):
            return text
        owners = [(max(own), s) for s in services if (own := self._owned(documents, s))]
        if not owners:
            raise WiringError(f"{self.path}: no service's {self.what} to copy for {name}")
        last, ref = max(owners)
        copies = [rename(documents[i], ref, name) for i in self._owned(documents, ref)]
        if not documents[last].endswith("\n"):
            documents[last] += "\n"
        return self._join(head, documents[: last + 1] + copies + documents[last + 1 :])

    def remove(self, text: str, name: str) -> str:
        """Drop the documents of ``name``."""
        head, documents = self._split(text)
        owned = set(self._owned(documents, name))
        return self._join(head, [doc for i, doc in enumerate(documents) if i not in owned])


@dataclass(frozen=True)
class Files(Place):
    """A file or folder (``path`` ending in /) each service has, written by the template."""

    def names(self, root: Path) -> list[str]:
        """The names of the files or folders that exist."""
        pattern = _pattern(f"^{re.escape(self.path).replace(re.escape(NAME), NAME)}$", None)
        candidates = root.glob(self.path.replace(NAME, "*").rstrip("/"))
        paths = [p.relative_to(root).as_posix() + ("/" if p.is_dir() else "") for p in candidates]
        return sorted(_found_name(m) for p in paths if (m := pattern.match(p)))

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
    Lines(".env.example", "database password", entry=r"{NAME}_DB_PASSWORD=.*"),
    Items(
        "tox.ini",
        "test env (section header)",
        line=r"\[testenv:\{(?P<items>[^}]*)\}\]",
        separator=",",
    ),
    ToxEnvList("tox.ini", "test env (env_list)", line=r"env_list = (?P<items>.*)"),
    # Kubernetes (deploy/k8s/README.md), when the repository has it.
    Files(f"{K8S}/base/{NAME}/", "manifests folder", scope=K8S),
    Lines(f"{K8S}/base/kustomization.yaml", "resource", scope=K8S, entry=r"  - {name}"),
    Lines(
        f"{K8S}/base/kustomization.yaml",
        "events resource (relay, consumer)",
        scope=K8S,
        entry=r"  - {name}/events",
    ),
    Lines(f"{K8S}/base/ingress.yaml", "ingress path", scope=K8S, entry=r" *- path: /api/v1/{name}"),
    Items(
        f"{K8S}/base/docs/kustomization.yaml",
        "DOCS_SERVICES entry",
        scope=K8S,
        line=r" *- DOCS_SERVICES=(?P<items>.*)",
        separator=",",
        item="{name}=http://{name}",
    ),
    Lines(DEV, "image", scope=K8S, entry=r"  - name: platform/{name}"),
    Lines(DEV, "replicas entry", scope=K8S, entry=r"  - name: {name}"),
    Lines(DEV, "Secret", scope=K8S, entry=r"  - name: {name}-database"),
    Files(f"{K8S}/overlays/dev/secrets/{NAME}-database.env.example", "example Secret", scope=K8S),
    Documents(
        f"{K8S}/overlays/dev/postgres/databases.yaml",
        "database (Service and StatefulSet)",
        scope=K8S,
        marker=r"^  name: {name}-db$",
    ),
    Lines(PROD, "image", scope=K8S, entry=r"  - name: platform/{name}"),
    # A static CI matrix; one computed from services/ is no place to keep in sync.
    Items(
        WORKFLOW,
        "test matrix entry",
        scope=WORKFLOW,
        line=r" *package: \[(?P<items>[^\]]*)\]",
        static_only=True,
    ),
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
        pyproject = root / SERVICES / name / "pyproject.toml"
        if not pyproject.exists():
            problems.append(f"services/{name}/: no pyproject.toml")
            continue
        port = tomllib.loads(pyproject.read_text()).get("tool", {}).get("platform", {}).get("port")
        if not isinstance(port, int):
            problems.append(f"services/{name}/pyproject.toml: no [tool.platform] port")
        elif port in owners:
            where = f"services/{name}/pyproject.toml"
            problems.append(f"{where}: [tool.platform] port {port} is taken by {owners[port]}")
        else:
            owners[port] = f"services/{name}"
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
