"""What the harness reads of the machine: its facts for the report, processes in /proc, ports."""
# `wrk --version` only.
# ruff: noqa: S607

import contextlib
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_facts() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0].strip()
        if (wrk.stdout or wrk.stderr)
        else "?",
        "load_at_start": load_average(),
        "shared": "wrk, PostgreSQL, Traefik and every server share these cores",
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded for the report."""
    return [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    """A port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(port: int) -> bool:
    """True when something listens on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes() -> dict[int, tuple[str, int]]:
    """Every live process: its command name and its parent, from /proc/<pid>/stat."""
    found: dict[int, tuple[str, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            found[int(stat.parent.name)] = (name, int(text.rsplit(")", 1)[1].split()[1]))
    return found


def _parents() -> dict[int, int]:
    """Every live process and its parent."""
    return {pid: parent for pid, (_, parent) in _processes().items()}


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers), sorted."""
    return sorted(p for p, pp in _parents().items() if pp == pid)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    parent = _parents()
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, pp in parent.items() if pp == current]
        found += kids
        frontier += kids
    return found


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (field 3 onwards): fields[11] is utime."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU of ``pid`` and every live process below it.

    :param reaped: also count the children each of them waited for after they exited (a
        PostgreSQL backend ends with its connection: its time moves to the postmaster's).
    """
    total = 0.0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(p)
            ticks = int(fields[11]) + int(fields[12])
            if reaped:
                ticks += int(fields[13]) + int(fields[14])
            total += ticks / CLOCK_TICKS
    return total


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL server on this machine: each postmaster, its backends and helper
    processes, live or ended (0 when none runs here, e.g. a remote BENCH_PG_HOST)."""
    processes = _processes()
    postmasters = [
        pid
        for pid, (name, parent) in processes.items()
        if name == "postgres" and processes.get(parent, ("", 0))[0] != "postgres"
    ]
    return sum(process_cpu_seconds(pid, reaped=True) for pid in postmasters)


def machine_cpu_seconds() -> float:
    """CPU time every core spent on anything but idling (/proc/stat's first line, steal and
    guest excluded): what the whole machine, load generator included, used."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS
