"""widgets and parts

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "widgets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widgets")),
        sa.UniqueConstraint("name", name=op.f("uq_widgets_name")),
    )
    # PostgreSQL checks this FK at COMMIT, not at INSERT: the tests use it to make a commit fail.
    deferred = (
        {"deferrable": True, "initially": "DEFERRED"}
        if op.get_bind().dialect.name == "postgresql"
        else {}
    )
    op.create_table(
        "parts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("widget_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["widget_id"],
            ["widgets.id"],
            name=op.f("fk_parts_widget_id_widgets"),
            ondelete="CASCADE",
            **deferred,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parts")),
    )
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parts_widget_id"), ["widget_id"], unique=False)


def downgrade():
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parts_widget_id"))
    op.drop_table("parts")
    op.drop_table("widgets")
