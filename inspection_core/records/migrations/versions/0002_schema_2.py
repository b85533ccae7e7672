"""Schema 2: UTC and local time, station, camera serial, recipe version, model hash, margin,
thresholds, alarm, largest defect area, timings; indexes on recipe and stored images.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inspection_core.records.migrations.versions import set_version

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (
    ("time_utc", sa.Text),
    ("time_local", sa.Text),
    ("station", sa.Text),
    ("camera_serial", sa.Text),
    ("recipe_version", sa.Integer),
    ("model_hash", sa.Text),
    ("margin", sa.Float),
    ("image_threshold", sa.Float),
    ("pixel_threshold", sa.Float),
    ("alarm", sa.Text),
    ("max_area_px", sa.BigInteger),
    ("timings", sa.Text),
)


def upgrade() -> None:
    # a schema-1 log from before Alembic may hold some of them already: add only what is missing
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inspections")}
    for name, kind in COLUMNS:
        if name not in have:
            op.add_column("inspections", sa.Column(name, kind))
    op.create_index("inspections_recipe", "inspections", ["recipe"], if_not_exists=True)
    op.create_index(
        "inspections_image",
        "inspections",
        ["image_path"],
        sqlite_where=sa.text("image_path IS NOT NULL"),
        postgresql_where=sa.text("image_path IS NOT NULL"),
        if_not_exists=True,
    )
    set_version(2)


def downgrade() -> None:
    op.drop_index("inspections_image", "inspections")
    op.drop_index("inspections_recipe", "inspections")
    for name, _ in reversed(COLUMNS):
        op.drop_column("inspections", name)
    set_version(1)
