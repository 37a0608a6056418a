"""`platform new-service` and `platform remove-service`: a service added or removed everywhere.

new-service renders the copier template deploy/templates/service at the repository's root,
which writes services/<name>/ and the service's own folders under deploy/k8s/, then adds the
service's line to each of the few shared files that list services (consistency.PLACES).
remove-service deletes those folders and lines again. Both re-run `uv lock`, as the uv
workspace finds services by their folder (services/*) but uv.lock lists each, and end with the
consistency check.
"""

import keyword
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import copier

from platform_local import consistency
from platform_local.consistency import K8S, PLACES, SERVICES, Files, TextPlace
from platform_local.gateway import PORTS
from platform_local.services import declared_port

TEMPLATE = "deploy/templates/service"
# Names a service cannot take besides the existing ones (copier.yml validates against them): a
# Python keyword or module, a package that is not a service, a process of `platform up`.
PLATFORM_NAMES = {*consistency.COMPONENTS, "gateway", "platform"}
FIRST_PORT = 8001

Edit = Callable[[TextPlace, str], str]


def _tox_envs(root: Path) -> set[str]:
    """Every env name tox.ini's section headers define (``[testenv:lint]``, ``{docs,local}``)."""
    tox = root / "tox.ini"
    headers = re.findall(r"^\[testenv:\{?([^\]}]*)\}?\]$", tox.read_text(), re.MULTILINE)
    return {env.strip() for header in headers for env in header.split(",")}


def service_ports(root: Path) -> dict[str, int]:
    """The [tool.platform] port of every service that declares one."""
    names = consistency.service_names(root)
    ports = {name: declared_port(root / SERVICES / name) for name in names}
    return {name: port for name, port in ports.items() if port is not None}


def next_free_port(ports: set[int], used: set[int]) -> int:
    """The first port after the highest service port that nothing else uses."""
    port = max(ports, default=FIRST_PORT - 1) + 1
    while port in used:
        port += 1
    return port


def facts(root: Path) -> dict[str, Any]:
    """What copier.yml's validators and defaults need to know about the repository."""
    services = consistency.service_names(root)
    ports = set(service_ports(root).values())
    used = ports | set(PORTS.values())
    reserved = set(keyword.kwlist) | set(sys.stdlib_module_names) | PLATFORM_NAMES
    return {
        "existing_services": services,
        "reserved_names": sorted((reserved | _tox_envs(root)) - set(services)),
        "used_ports": sorted(used),
        "next_free_port": next_free_port(ports, used),
        "k8s": (root / K8S).is_dir(),
    }


def own_files(root: Path, name: str) -> list[Path]:
    """The service's files and folders outside services/<name>/ (deploy/k8s) that exist."""
    places = [p for p in PLACES if isinstance(p, Files) and p.applies(root)]
    return [path for place in places if (path := place.of(root, name)).exists()]


def edited(root: Path, edit: Edit) -> dict[Path, str]:
    """The new text of every shared file ``edit`` changes; raises WiringError before any write."""
    texts: dict[Path, str] = {}
    for place in PLACES:
        if isinstance(place, TextPlace) and place.applies(root):
            path = root / place.path
            texts[path] = edit(place, texts[path] if path in texts else place.read(root))
    return {path: text for path, text in texts.items() if text != path.read_text()}


def _uv(root: Path) -> str | None:
    """The uv next to this interpreter (.venv's, `make install`), the repository's, or on PATH."""
    for candidate in (Path(sys.executable).parent / "uv", root / ".venv" / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("uv")


def relock(root: Path) -> bool:
    """Update uv.lock for the services now in services/ (``uv lock``); False if it could not."""
    uv = _uv(root)
    if uv is None or not (root / "uv.lock").exists():
        print("platform: uv not found: run `uv lock` (then commit uv.lock)", file=sys.stderr)
        return False
    # A fixed program; only versions the lock does not hold yet are resolved (needs the index).
    locked = subprocess.run([uv, "lock", "--quiet"], cwd=root, check=False)  # noqa: S603
    if locked.returncode != 0:
        print("platform: `uv lock` failed (above): run it, then commit uv.lock", file=sys.stderr)
    return locked.returncode == 0


def _listing(root: Path, paths: list[Path]) -> list[str]:
    """Paths relative to ``root``, every file of a folder listed."""
    files = [f for p in paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p])]
    return [f"  {f.relative_to(root).as_posix()}" for f in files if f.is_file()]


def new_service(root: Path, name: str, *, noun: str | None = None, port: int | None = None) -> int:
    """Render the template for ``name`` and wire the service in; return the exit status."""
    services = consistency.service_names(root)
    answers = {"name": name, **facts(root)}
    answers |= {key: value for key, value in {"noun": noun, "port": port}.items() if value}
    # Files a removed service left behind (deploy/k8s) would clash with the template's; for a
    # name that is taken anyway, copier.yml's validators give the better answer.
    leftovers = [] if name in services else own_files(root, name)
    if leftovers and name not in answers["reserved_names"]:
        shown = ", ".join(p.relative_to(root).as_posix() for p in leftovers)
        print(f"platform: {shown} exist(s) already: remove-service {name}?", file=sys.stderr)
        return 1
    # Every edit is computed before anything is written: a shared file that does not look as
    # expected stops the command with the repository untouched.
    try:
        changes = edited(root, lambda place, text: place.add(text, name, services))
        copier.run_copy(
            str(root / TEMPLATE), root, data=answers, defaults=True, unsafe=False, quiet=True
        )
    except (consistency.WiringError, ValueError) as error:  # ValueError: copier.yml's validators
        print(f"platform: {error}", file=sys.stderr)
        return 1
    for path, text in changes.items():
        path.write_text(text)
    updated = [*changes, root / "uv.lock"] if relock(root) else [*changes]
    created = [root / SERVICES / name, *own_files(root, name)]
    served = service_ports(root)[name]
    lines = [
        "Created:",
        *_listing(root, created),
        "Added the service to:",
        *_listing(root, updated),
    ]
    lines += [
        "Next:",
        "  make install          # every package editable in .venv (uv.lock), the new one included",
        f"  tox -e {name:<14} # its tests",
        f"  platform up           # the platform; {name} at /api/v1/{name} (direct: :{served})",
    ]
    print("\n".join(lines))
    return consistency.check(root)


def remove_service(root: Path, name: str, *, confirmed: bool) -> int:
    """Delete ``name``'s files and entries (only list them unless ``confirmed``)."""
    folder = root / SERVICES / name
    try:
        listed = any(
            name in place.names(root)
            for place in PLACES
            if isinstance(place, TextPlace) and place.applies(root)
        )
        changes = edited(root, lambda place, text: place.remove(text, name))
    except consistency.WiringError as error:
        print(f"platform: {error}", file=sys.stderr)
        return 1
    if name in consistency.COMPONENTS or not (folder.is_dir() or listed):
        print(f"platform: {name} is not a service of this repository", file=sys.stderr)
        return 1
    doomed = [p for p in [folder, *own_files(root, name)] if p.exists()]
    lines = ["Deletes:", *_listing(root, doomed), "Removes its entries from:"]
    print("\n".join([*lines, *_listing(root, [*changes])]))
    if not confirmed:
        print("Nothing done yet: run it again with --yes.")
        return 1
    for path in doomed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    for path, text in changes.items():
        path.write_text(text)
    relock(root)
    print(f"Its data is kept: compose's volume platform_{name}-db, .platform/{name}.db.")
    return consistency.check(root)
