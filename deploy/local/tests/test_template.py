"""The copier template: what it renders, what it refuses, and code the repository's lint accepts."""

import ast
import importlib.util
import keyword
import re
import shutil
import subprocess
import sys
from pathlib import Path

import copier
import pytest
import yaml

from platform_local import newservice
from platform_local.services import ROOT

TEMPLATE = ROOT / newservice.TEMPLATE
SETTINGS = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
UNUSABLE_NOUNS = set(SETTINGS["unusable_nouns"]["default"])


def render(destination: Path, **answers: object) -> Path:
    """Render the template into ``destination`` (no repository facts: copier's defaults)."""
    copier.run_copy(
        str(TEMPLATE), destination, data=answers, defaults=True, unsafe=False, quiet=True
    )
    return destination


def bound_names(tree: ast.AST) -> set[str]:
    """Every name a module binds or reads, except the methods of its classes (their scope)."""
    methods = {
        id(node)
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
    }
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and id(node) not in methods:
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def shadowed_nouns(module: str, noun: str) -> set[str]:
    """The nouns that would turn a name ``module`` derives from ``noun`` into one it binds."""
    # A derived name is prefix + noun (as is, Capitalised or UPPER) + suffix, e.g. `get_` +
    # `widget` + `_id`; another noun N clashes when prefix + N + suffix is bound already.
    forms = {noun: str.lower, noun.capitalize(): str.capitalize, noun.upper(): str.upper}
    names = bound_names(ast.parse(module))
    derived = {n for n in names if noun in n.lower()}
    found = set()
    for name in derived:
        prefix, form, suffix = re.match(rf"(.*?)({'|'.join(forms)})(.*)", name).groups()
        for other in names - derived:
            middle = other.removeprefix(prefix).removesuffix(suffix)
            fits = len(prefix) + len(middle) + len(suffix) == len(other)
            if (
                fits
                and forms[form](middle) == middle
                and re.fullmatch("[a-z]{2,20}", middle.lower())
            ):
                found.add(middle.lower())
    return found


def test_unusable_nouns_cover_every_name_a_noun_would_shadow(tmp_path):
    service = render(tmp_path, name="gizmos", noun="widget") / "services" / "gizmos"
    shadowed = set()
    for module in service.rglob("*.py"):
        shadowed |= shadowed_nouns(module.read_text(), "widget")
    assert shadowed - UNUSABLE_NOUNS == set()


def test_python_keywords_are_unusable_nouns():
    assert {k for k in keyword.kwlist if re.fullmatch("[a-z]+", k)} <= UNUSABLE_NOUNS


def files(folder: Path, noun: str) -> set[str]:
    """The files under ``folder``, ``noun`` in their paths written as ``<noun>``."""
    found = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return {path.replace(noun, "<noun>") for path in found if "__pycache__" not in path}


def test_renders_a_service_shaped_like_users_and_k8s_files_only_with_k8s(tmp_path):
    without = render(tmp_path / "without", name="payments", port=8004)
    assert [p.name for p in without.iterdir()] == ["services"]
    users, service = ROOT / "services/users", without / "services/payments"
    kept = {p.name for p in users.iterdir() if p.name[0] != "." and p.name != "instance"}
    assert {p.name for p in service.iterdir()} == kept
    package = files(service / "src/payments_service", "payment")
    assert package == files(users / "src/users_service", "user")
    assert "resources/<noun>s.py" in package
    assert "migrations/versions/0001_create_<noun>s.py" in package
    assert files(service / "tests", "payment") >= {
        "__init__.py",
        "conftest.py",
        "test_app.py",
        "test_<noun>s.py",
        "utils/__init__.py",
        "utils/<noun>s.py",
    }
    with_k8s = render(tmp_path / "with", name="payments", port=8004, k8s=True)
    assert files(with_k8s / "deploy", "payments") == {
        "k8s/base/<noun>/kustomization.yaml",
        "k8s/base/<noun>/ingress.yaml",
        *(f"k8s/base/<noun>/app/{kind}.yaml" for kind in ("deployment", "hpa", "kustomization")),
        *(f"k8s/base/<noun>/app/{kind}.yaml" for kind in ("pdb", "service")),
        *(f"k8s/base/<noun>/events/{kind}.yaml" for kind in ("kustomization", "relay", "consumer")),
        *(f"k8s/overlays/dev/services/<noun>/{f}" for f in ("kustomization.yaml", "database.yaml")),
        "k8s/overlays/dev/services/<noun>/database.env.example",
    }


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"name": "Payments"}, "2 to 30 lowercase letters"),
        ({"name": "pay_ments"}, "2 to 30 lowercase letters"),
        ({"name": "p"}, "2 to 30 lowercase letters"),
        ({"name": "payments\n"}, "2 to 30 lowercase letters"),
        ({"name": "p" * 31}, "2 to 30 lowercase letters"),
        ({"name": "users", "existing_services": ["users"]}, "services/users already exists"),
        ({"name": "json", "reserved_names": ["json"]}, "Python keyword or module"),
        ({"name": "pages"}, '"page" is a Python keyword or a name the generated code'),
        ({"name": "payments", "noun": "class"}, "a name the generated code"),
        ({"name": "payments", "noun": "x" * 21}, "2 to 20 lowercase letters"),
        ({"name": "payments", "port": 80}, "a port from 1024 to 65535"),
        ({"name": "payments", "port": 8001, "used_ports": [8001]}, "port 8001 is taken"),
    ],
)
def test_copier_yml_refuses_bad_answers(tmp_path, answers, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render(tmp_path, **answers)
    assert list(tmp_path.iterdir()) == []


def test_copier_renders_the_working_tree_not_a_commit(tmp_path):
    # The template lives inside a repository, not at its root: copier reads the files as they
    # are. (At a repository's root it would clone the last commit and miss uncommitted work.)
    repository = tmp_path / "repository"
    template = repository / "deploy" / "templates" / "service"
    shutil.copytree(TEMPLATE, template)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repository, check=True)  # noqa: S603
    subprocess.run([*git, "add", "."], cwd=repository, check=True)  # noqa: S603
    subprocess.run([*git, "commit", "-qm", "template"], cwd=repository, check=True)  # noqa: S603
    readme = template / "template" / "services" / "{{name}}" / "README.md.jinja"
    readme.write_text(readme.read_text() + "Not committed yet.\n")
    copier.run_copy(
        str(template), tmp_path / "out", data={"name": "payments"}, defaults=True, quiet=True
    )
    assert "Not committed yet." in (tmp_path / "out/services/payments/README.md").read_text()


def mimic_repository(destination: Path) -> Path:
    """What ruff needs to judge a service like the repository's: its config and common."""
    shutil.copy(ROOT / "ruff.toml", destination / "ruff.toml")
    shutil.copytree(ROOT / "libs/common/src", destination / "libs/common/src")
    return destination


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="needs ruff (tox -e lint's)")
@pytest.mark.parametrize(
    ("name", "noun"),
    [
        ("payments", "payment"),  # the package sorts between common and tests
        ("ab", "ab"),  # the shortest names; `ab_service` sorts before `common`
        ("billing", "invoice"),  # a noun that is not the name
        ("z" * 30, "y" * 20),  # the longest names: every line still fits in 100 columns
    ],
)
def test_generated_code_passes_the_repository_lint(tmp_path, name, noun):
    render(mimic_repository(tmp_path), name=name, noun=noun)
    for command in ("check", "format --check"):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "ruff", *command.split(), "--no-cache", "services"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
