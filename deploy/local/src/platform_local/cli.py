"""`platform`: run the platform without Docker, or add a service to it (and check the wiring).

Every command works on the repository this package lives in, or on PLATFORM_ROOT.
"""

import argparse
import sys
from pathlib import Path

from platform_local import consistency, newservice, stack
from platform_local.services import ROOT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="every service, the gateway and the docs, until Ctrl-C",
        description="Run every service, the gateway and the docs until Ctrl-C, and each "
        "service's integration events as processes of their own: <service>-relay (a service "
        "with events.py) and <service>-consumer (one whose handlers.py registers a handler). "
        "Events travel through RabbitMQ when BROKER_URL is set (at least once, across broker "
        "restarts and crashes; the consumers' inbox handles each once). Otherwise through "
        "kombu's filesystem transport in <data dir>/events, no server needed: a message is a "
        "file, routed across the processes of this machine; a consumer killed (not stopped) "
        "loses the messages it held; for a laptop, not production. Environment: "
        "PLATFORM_PORT_OFFSET=N adds N to every port it binds (gateway 8080+N, services, docs, "
        "Traefik's API), so a second platform runs beside a first; GATEWAY_PORT moves the "
        "gateway alone; BROKER_URL (amqp://user:password@host:5672//) as above. "
        "Traces: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 exports every process's "
        "spans and the gateway's over OTLP/HTTP, e.g. to a Jaeger on this machine (`jaeger`, "
        "UI on http://127.0.0.1:16686); each process is named in them (users, users-relay, "
        "users-consumer, gateway); OTEL_TRACES_SAMPLER=parentbased_traceidratio with "
        "OTEL_TRACES_SAMPLER_ARG=0.1 traces a tenth of the requests; OTEL_TRACES_EXPORTER=console "
        "prints the spans in this log instead (the services only; for one service, run it alone: "
        "see deploy/local/README.md). Metrics: each service at http://127.0.0.1:<port>/metrics, "
        "its relay and consumer on <port>+100 and <port>+200, the gateway on Traefik's API port "
        "(8088+N); <data dir>/prometheus.yml scrapes them all: prometheus "
        "--config.file=.platform/prometheus.yml (UI on http://127.0.0.1:9090).",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        help="where the SQLite databases, the dev signing key and, without BROKER_URL, the "
        "events folder live (default: .platform/)",
    )
    new = commands.add_parser(
        "new-service", help="a new service from deploy/templates/service, wired in everywhere"
    )
    new.add_argument("name", help="lowercase letters: services/<name>, /api/v1/<name>")
    new.add_argument("--noun", help="its example resource, singular (default: name minus 's')")
    new.add_argument("--port", type=int, help="its port for `platform up` (default: next free)")
    remove = commands.add_parser(
        "remove-service", help="delete a service's files and every entry naming it"
    )
    remove.add_argument("name")
    remove.add_argument("--yes", action="store_true", help="do it (without: only list it)")
    commands.add_parser("check", help="fail unless every service is wired everywhere")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    args = _parser().parse_args(argv)
    if args.command == "up":
        return stack.up(args.data_dir)
    if args.command == "new-service":
        return newservice.new_service(ROOT, args.name, noun=args.noun, port=args.port)
    if args.command == "remove-service":
        return newservice.remove_service(ROOT, args.name, confirmed=args.yes)
    return consistency.check(ROOT)


if __name__ == "__main__":
    sys.exit(main())
