"""`platform`: run the platform without Docker, or add a service to it."""

import argparse
from pathlib import Path

from platform_local import stack


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="every service, the gateway and the docs, until Ctrl-C")
    up.add_argument(
        "--data-dir",
        type=Path,
        help="where the SQLite databases and the dev signing key live (default: .platform/)",
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        return stack.up(args.data_dir)
    return 2
