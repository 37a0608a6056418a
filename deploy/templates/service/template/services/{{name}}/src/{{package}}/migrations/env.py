"""Alembic entry point; the environment itself lives in common.migrations."""

from common.migrations import run_migrations

run_migrations()
