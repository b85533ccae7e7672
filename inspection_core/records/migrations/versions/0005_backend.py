"""Schema 5: which inference backend judged each inspection (torch, onnxruntime, openvino; issue #27).

`model` and `model_hash` say which model; `backend` says which runtime ran it, so "what rejected this
part last night" can tell torch from ONNX Runtime. Rows from before schema 5 read as NULL (unknown).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inspection_core.records.migrations.versions import set_version

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add only if missing: a database touched by a development build may have it already
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inspections")}
    if "backend" not in have:
        op.add_column("inspections", sa.Column("backend", sa.Text))
    set_version(5)


def downgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        batch.drop_column("backend")
    set_version(4)
