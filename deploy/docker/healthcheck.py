"""Container HEALTHCHECK: healthy when /health/ready answers 200 (no curl in the image).

With ``--process`` (the events relay and consumer, which serve no HTTP): healthy while the
container's main process runs, i.e. PID 1 is neither a zombie nor stopped. That is all it says:
common.events writes no heartbeat, so a loop that hangs without exiting is not noticed.
"""

import os
import sys
import urllib.request


def process_runs() -> bool:
    """PID 1's state (the field after its command name in /proc/1/stat) is not Z, T or X."""
    with open("/proc/1/stat", encoding="ascii", errors="replace") as stat:
        state = stat.read().rpartition(")")[2].split()[0]
    return state not in {"Z", "T", "t", "X", "x"}


def ready() -> bool:
    """/health/ready answers 200."""
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health/ready"
    # Generous: under load the probe queues behind real requests, and a probe that gives up
    # early makes the gateway drop a service that is only busy.
    with urllib.request.urlopen(url, timeout=10) as response:
        return bool(response.status == 200)


try:
    sys.exit(0 if (process_runs() if "--process" in sys.argv[1:] else ready()) else 1)
except Exception:
    sys.exit(1)
