"""Users' events: the inbox table, and the profile's is_active on identities.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
    )
    op.create_index(op.f("ix_inbox_messages_received_at"), "inbox_messages", ["received_at"])
    # Plain ALTERs on both databases: a batch copy of the table on SQLite would lose
    # uq_identities_email_lower (an expression index, which SQLite's reflection skips).
    op.add_column(
        "identities",
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "identities", sa.Column("profile_updated_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade():
    op.drop_column("identities", "profile_updated_at")  # SQLite 3.35+ drops a column in place
    op.drop_column("identities", "is_active")
    op.drop_index(op.f("ix_inbox_messages_received_at"), table_name="inbox_messages")
    op.drop_table("inbox_messages")
