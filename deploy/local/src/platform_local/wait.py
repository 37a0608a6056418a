"""``python -m platform_local.wait URL``: return once URL answers 200 (exit 1 after a minute).

``platform up`` starts a service's relay and consumer behind it, as compose's ``depends_on`` a
healthy service does: the service applies its migrations before it answers, so the events
processes never meet a database without their tables.
"""

import sys
import time
import urllib.request

TIMEOUT = 60.0


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback URL)
            return bool(response.status == 200)
    except OSError:
        return False


def main(argv: list[str]) -> int:
    """Poll ``argv[0]`` every 0.1 s; 0 once it answers, 1 after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not answers(argv[0]):
        if time.monotonic() > deadline:
            print(f"{argv[0]} did not answer within {TIMEOUT:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
