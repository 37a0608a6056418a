"""Benchmark 4's two paths of POST /api/v1/orders: the synchronous user check and the read model.

Since orders keeps a read model of users (``known_users``, fed by users' events), an order
from an account orders knows costs no call to users; one from an account it has not heard of
yet asks users (``GET /api/v1/users/{id}``), and keeps the answer. Both paths run side by side
in one run, on the same servers and database, told apart only by whose tokens wrk sends:

- **read model**: the first half of the credentialed users, seeded into ``known_users``;
- **users call**: the other half, never in ``known_users``: a trigger drops every insert into
  that table (bench_orders only), so the answer orders keeps after the call is forgotten and
  each of their orders calls users again, as an unknown account's first order does. The upsert
  itself still runs, so its cost is in the figure.

The tables come from the service's migrations (0002: known_users, outbox, inbox), which the
harness applies before seeding; nothing here creates a table of the service.
"""

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

PATHS = {"model": "read model (known user)", "call": "users call (unknown user)"}

FORGET = """
CREATE FUNCTION bench_forget_known_user() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER bench_forget_known_user BEFORE INSERT ON known_users
FOR EACH ROW EXECUTE FUNCTION bench_forget_known_user();
"""


def prepare(
    orders_db_url: str, user_ids: list[uuid.UUID], tokens: list[str], workdir: Path
) -> dict[str, Path]:
    """Seed known_users for the read-model half, make the other half stay unknown.

    :return: the token file of each path, for bench/lua/orders.lua.
    """
    half = len(tokens) // 2
    with psycopg.connect(orders_db_url) as conn:
        with conn.cursor().copy(
            "COPY known_users (id, is_active, deleted, updated_at) FROM STDIN"
        ) as copy:
            for uid in user_ids[:half]:
                copy.write_row((uid, True, False, "2024-01-01T00:00:00+00:00"))
        conn.execute(FORGET)
    files = {}
    for name, part in (("model", tokens[:half]), ("call", tokens[half:])):
        files[name] = workdir / f"tokens-{name}.txt"
        files[name].write_text("\n".join(part) + "\n")
    return files


def check(orders_db_url: str, expected_known: int) -> dict[str, Any]:
    """known_users still holds only the seeded half (the unknown half stayed unknown)."""
    with psycopg.connect(orders_db_url) as conn:
        known = int(conn.execute("SELECT count(*) FROM known_users").fetchone()[0])
    return {"known_users": known, "ok": known == expected_known}


def sides(
    run: Callable[[int, Path, str], dict[str, Any]],
    connections: tuple[int, ...],
    token_files: dict[str, Path],
    cpu_of: tuple[str, ...],
) -> dict[str, tuple[Callable[[], dict[str, Any]], tuple[str, ...]]]:
    """The interleaved sides: each path at each connection count (``run(c, tokens, label)``)."""
    return {
        f"{path}-c{c}": ((lambda c=c, path=path: run(c, token_files[path], f"{path}-c{c}")), cpu_of)
        for path in PATHS
        for c in connections
    }
