"""Schema 4: the audit trail says who changed what from which value to which (issue #25).

The `audit` table of schema 1 (time, user, action, details) gains the columns a change needs: the
station, the user's role, what was changed, old and new value (JSON text), the live recipe and its
version, a note, the UTC time as text; and an index on time. Old rows keep their details.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inspection_core.records.migrations.versions import set_version

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("time_utc", sa.Text),
    ("station", sa.Text),
    ("role", sa.Text),
    ("target", sa.Text),
    ("old", sa.Text),
    ("new", sa.Text),
    ("recipe", sa.Text),
    ("recipe_version", sa.Integer),
    ("note", sa.Text),
)


def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.add_column("audit", sa.Column(name, kind()))
    op.create_index("audit_time", "audit", ["time_ns"], if_not_exists=True)
    set_version(4)


def downgrade() -> None:
    op.drop_index("audit_time", "audit")
    with op.batch_alter_table("audit") as batch:
        for name, _kind in reversed(_COLUMNS):
            batch.drop_column(name)
    set_version(3)
