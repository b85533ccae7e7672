"""Schema 3: an index on (station, time) — one plant database holds many stations' rows.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _set_version(version: int) -> None:
    op.execute("DELETE FROM meta WHERE key = 'schema_version'")
    op.execute(f"INSERT INTO meta (key, value) VALUES ('schema_version', '{version}')")
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA user_version={version}")


def upgrade() -> None:
    op.create_index("inspections_station_time", "inspections", ["station", "time_ns"], if_not_exists=True)
    _set_version(3)


def downgrade() -> None:
    op.drop_index("inspections_station_time", "inspections")
    _set_version(2)
