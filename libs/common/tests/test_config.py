"""Settings from the environment: an unset or empty variable is the default, garbage stops."""

import os
import subprocess
import sys

import pytest

from common.config import env_bool, env_float, env_int


@pytest.mark.parametrize(("read", "raw", "value"), [(env_int, "7", 7), (env_float, "0.25", 0.25)])
def test_a_number_is_parsed(monkeypatch, read, raw, value):
    monkeypatch.setenv("SETTING", raw)
    assert read("SETTING", 1) == value


@pytest.mark.parametrize("read", [env_int, env_float, env_bool])
@pytest.mark.parametrize("raw", [None, ""])
def test_unset_or_empty_is_the_default(monkeypatch, read, raw):
    if raw is None:
        monkeypatch.delenv("SETTING", raising=False)
    else:
        monkeypatch.setenv("SETTING", raw)
    assert read("SETTING", 3) == 3


@pytest.mark.parametrize(
    ("read", "raw", "message"),
    [
        (env_int, "1.5", "an integer"),
        (env_int, "five", "an integer"),
        (env_float, "1s", "a number"),
    ],
)
def test_garbage_fails_naming_the_variable(monkeypatch, read, raw, message):
    monkeypatch.setenv("SETTING", raw)
    with pytest.raises(RuntimeError, match=f"SETTING must be {message}, got '{raw}'"):
        read("SETTING", 1)


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("Yes", True), ("on", True), ("0", False)])
def test_booleans(monkeypatch, raw, value):
    monkeypatch.setenv("SETTING", raw)
    assert env_bool("SETTING", not value) is value


def test_a_bad_setting_stops_the_process_at_start():
    env = {**os.environ, "HTTP_READ_TIMEOUT": "2s"}
    result = subprocess.run(
        [sys.executable, "-c", "import common.config"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "RuntimeError: HTTP_READ_TIMEOUT must be a number, got '2s'" in result.stderr
