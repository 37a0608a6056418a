"""The bench databases: recreated on every run, migrated by the services, seeded with COPY."""
# `python -m flask db upgrade` of each service, a fixed command.
# ruff: noqa: S603

import datetime as dt
import random
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from platform_bench.settings import (
    DATABASES,
    N_LOGINS,
    N_ORDERS,
    N_USERS,
    PASSWORD,
    PG_HOST,
    PG_PORT,
    PG_USER,
    ROOT,
    base_env,
)

# Every seeded row's timestamps count from here, one second apart.
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def pg_url(db: str, driver: str = "") -> str:
    """A URL for one database (``driver='+psycopg'`` for SQLAlchemy)."""
    return f"postgresql{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


def pg_admin() -> psycopg.Connection:
    """An autocommit connection to the maintenance database."""
    return psycopg.connect(pg_url("postgres"), autocommit=True, connect_timeout=5)


def recreate_databases() -> dict[str, Any]:
    """Drop and create the bench databases; return the server's facts."""
    with pg_admin() as conn:
        for db in DATABASES.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
        version = conn.execute("SHOW server_version").fetchone()[0]
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
    return {
        "version": version,
        "max_connections": max_connections,
        "superuser_reserved_connections": reserved,
    }


def run_migrations(env_for: Callable[[str], dict[str, str]]) -> None:
    """`flask db upgrade` of each service against its bench database, in parallel."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", f"{name}_service", "db", "upgrade"],
            env=env_for(name),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in DATABASES
    }
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise SystemExit(f"migrations of {name} failed:\n{out.decode(errors='replace')}")


def migration_env(name: str, key_file: Path) -> dict[str, str]:
    """What `flask db upgrade` of one service needs: its bench database (and auth a key file)."""
    return base_env() | {
        "DATABASE_URL": pg_url(DATABASES[name], "+psycopg"),
        "AUTH_DEV_KEY_FILE": str(key_file),
        "FLASK_APP": f"{name}_service",
    }


@dataclass
class Seeded:
    """What the seeding created that the load needs."""

    user_ids: list[uuid.UUID]
    emails: list[str]
    orders: int


def seed(rng: random.Random) -> Seeded:
    """10,000 users, 50,000 orders (1-3 lines each), credentials for the first N_LOGINS users."""

    def new_uuid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    user_ids = [new_uuid() for _ in range(N_USERS)]
    emails = [f"user{i:05d}@bench.example" for i in range(N_USERS)]
    seed_users(user_ids, emails)
    seed_orders(rng, new_uuid, user_ids)
    seed_identities(user_ids[:N_LOGINS], emails[:N_LOGINS])
    return Seeded(user_ids=user_ids, emails=emails, orders=N_ORDERS)


def seed_users(user_ids: list[uuid.UUID], emails: list[str]) -> None:
    """The users service's rows."""
    with psycopg.connect(pg_url(DATABASES["users"])) as conn:
        with conn.cursor().copy(
            "COPY users (id, email, name, is_active, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i, (uid, email) in enumerate(zip(user_ids, emails, strict=True)):
                ts = EPOCH + dt.timedelta(seconds=i)
                copy.write_row((uid, email, f"Bench User {i}", True, ts, ts))
        conn.execute("ANALYZE users")


def seed_orders(
    rng: random.Random, new_uuid: Callable[[], uuid.UUID], user_ids: list[uuid.UUID]
) -> None:
    """N_ORDERS orders of random users with 1-3 lines each (the random draws in a fixed order,
    so a run's data is the same as any other run's)."""
    with psycopg.connect(pg_url(DATABASES["orders"])) as conn:
        items = []
        with conn.cursor().copy(
            "COPY orders (id, user_id, status, currency, total_cents, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for i in range(N_ORDERS):
                oid = new_uuid()
                lines = [
                    (rng.randint(1, 5), rng.randint(100, 10_000)) for _ in range(rng.randint(1, 3))
                ]
                ts = EPOCH + dt.timedelta(seconds=i)
                total = sum(q * p for q, p in lines)
                copy.write_row((oid, rng.choice(user_ids), "placed", "EUR", total, ts, ts))
                items.extend(
                    (new_uuid(), oid, pos, f"SKU-{rng.randint(1, 500)}", q, p, q * p)
                    for pos, (q, p) in enumerate(lines, start=1)
                )
        with conn.cursor().copy(
            "COPY order_items (id, order_id, position, sku, quantity, unit_price_cents,"
            " line_total_cents) FROM STDIN"
        ) as copy:
            for row in items:
                copy.write_row(row)
        conn.execute("ANALYZE")


def seed_identities(user_ids: list[uuid.UUID], emails: list[str]) -> None:
    """Credentials in the auth service for the given users, all with PASSWORD."""
    from argon2 import PasswordHasher, Type

    from auth_service.config import AuthConfig

    hasher = PasswordHasher(
        time_cost=AuthConfig.ARGON2_TIME_COST,
        memory_cost=AuthConfig.ARGON2_MEMORY_COST,
        parallelism=AuthConfig.ARGON2_PARALLELISM,
        type=Type.ID,
    )
    password_hash = hasher.hash(PASSWORD)  # one hash (salt included) serves every account
    with psycopg.connect(pg_url(DATABASES["auth"])) as conn:
        with conn.cursor().copy(
            "COPY identities (id, email, password_hash, roles, created_at, updated_at) FROM STDIN"
        ) as copy:
            for uid, email in zip(user_ids, emails, strict=True):
                copy.write_row((uid, email, password_hash, '["user"]', EPOCH, EPOCH))
        conn.execute("ANALYZE")


def count_orders() -> int:
    """Rows in bench_orders.orders."""
    with psycopg.connect(pg_url(DATABASES["orders"])) as conn:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])
