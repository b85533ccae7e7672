"""Schema 1: inspections (time, frame, source, recipe, model, score, verdict, defects, image), audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text))
    op.create_table(
        "inspections",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("frame_id", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("recipe", sa.Text),
        sa.Column("model", sa.Text),
        sa.Column("score", sa.Float),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("n_defects", sa.Integer, nullable=False),
        sa.Column("defects", sa.Text),
        sa.Column("image_path", sa.Text),
        sa.Column("note", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("inspections_time", "inspections", ["time_ns"])
    op.create_index("inspections_verdict", "inspections", ["verdict"])
    op.create_table(
        "audit",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("user", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("details", sa.Text),
        sqlite_autoincrement=True,
    )
    op.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("inspections")
    op.drop_table("meta")
