"""The Markdown report, rendered from report.md.j2 with Jinja2 (Flask's own template engine, so
bench/.venv has it; bench/requirements.txt pins it for the harness)."""

import math
from pathlib import Path
from typing import Any

import jinja2
import orders_paths

from platform_bench import settings

TEMPLATE = Path(__file__).with_name("report.md.j2")

# The GET comparison's sides as the report names them.
GET_TITLES = {
    "users": "users service, direct (the whole common stack)",
    "bare_flask": "bare Flask + flask-sqlalchemy (bench/peers/bare_flask.py)",
    "fastapi": "FastAPI + SQLAlchemy (bench/peers/fastapi_app.py)",
    "users_gateway": "users service through Traefik",
}
PROFILE_TITLES = {
    "profile": "users worker, GET /api/v1/users/{id}",
    "profile_orders": "orders worker, POST /api/v1/orders",
}


def fmt(value: Any, spec: str) -> str:
    """Python's format spec in the template: ``{{ x | fmt(".2f") }}``, ``{{ n | fmt(",") }}``."""
    return format(value, spec)


def one_line(text: str) -> str:
    """Join a block's lines with spaces: a long Markdown paragraph or table row stays one line
    in the report while the template wraps it. Only for blocks whose values hold no newline."""
    return text.rstrip("\n").replace("\n", " ") + "\n"


def verdict(ok: bool) -> str:
    return "✅ met" if ok else "❌ missed"


def environment() -> jinja2.Environment:
    """Plain text (no HTML escaping); block tags take their line with them; a missing key fails."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        autoescape=False,  # noqa: S701 (Markdown for a file and a terminal, not HTML)
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters |= {"fmt": fmt, "one_line": one_line, "verdict": verdict}
    return env


def render(report: dict[str, Any]) -> str:
    """The Markdown report of one run (``report``: the run's JSON result)."""
    return (
        environment()
        .get_template(TEMPLATE.name)
        .render(
            r=report,
            bench=settings,
            nan=math.nan,
            get_titles=GET_TITLES,
            order_paths=orders_paths.PATHS,
            profile_titles=PROFILE_TITLES,
        )
    )
