"""The benchmark's entry point: bench/run calls this file inside bench/.venv.

The benchmark itself is the package platform_bench/ (its __init__ lists the modules, in the
order a run uses them); this file only runs it, so that ``bench/.venv/bin/python bench/harness.py``
works with bench/ on the import path (platform_bench, events.py and orders_paths.py).
"""

import sys

from platform_bench.main import main

if __name__ == "__main__":
    sys.exit(main())
