"""Schema 3: an index on (station, time) — one plant database holds many stations' rows.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from inspection_core.records.migrations.versions import set_version

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("inspections_station_time", "inspections", ["station", "time_ns"], if_not_exists=True)
    set_version(3)


def downgrade() -> None:
    op.drop_index("inspections_station_time", "inspections")
    set_version(2)
