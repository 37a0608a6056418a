"""Fixtures: copies of the repository to break, wire and run without touching the real one."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from platform_local.services import ROOT

# What a copy leaves out when the repository is not a git checkout.
JUNK = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "*cache*", "__pycache__", "*.egg-info", "instance", ".platform"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers these tests use (--strict-markers is on)."""
    config.addinivalue_line("markers", "slow: runs a generated service's tests and the platform")


def repository_files(root: Path) -> list[str]:
    """The files git would commit: tracked, plus untracked ones it does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=root,
        capture_output=True,
        check=True,
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


def copy_repository(source: Path, destination: Path) -> Path:
    """Copy the repository's files (as git sees them, when it is a checkout) to ``destination``."""
    if not (source / ".git").exists():
        return Path(shutil.copytree(source, destination, ignore=JUNK))
    for name in repository_files(source):
        if (source / name).is_file():  # tracked files deleted in the work tree are skipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, destination / name)
    return destination


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the repository per session, never changed: tests copy it again."""
    return copy_repository(ROOT, tmp_path_factory.mktemp("pristine") / "repo")


@pytest.fixture()
def repo(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the repository this test may change."""
    return Path(shutil.copytree(pristine, tmp_path / "repo", symlinks=True))


@pytest.fixture()
def edit(repo: Path) -> Callable[[str, Callable[[str], str]], None]:
    """Change one file of the copy through a function of its text."""

    def change(path: str, function: Callable[[str], str]) -> None:
        file = repo / path
        before = file.read_text()
        after = function(before)
        assert after != before, f"the edit changed nothing in {path}"
        file.write_text(after)

    return change
