"""The records schema as SQLAlchemy Core tables: what queries are built from, the same on SQLite and
PostgreSQL. The tables are created and upgraded only by the Alembic revisions in `migrations/`
(tests/test_records_db.py checks that the migrated database matches these tables)."""

from __future__ import annotations

import sqlalchemy as sa

# SQLite keeps its rowid alias (INTEGER PRIMARY KEY AUTOINCREMENT); PostgreSQL gets a 64-bit key,
# since several stations append to one plant database
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text),
)

inspections = sa.Table(
    "inspections",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("time_ns", sa.BigInteger, nullable=False),
    sa.Column("frame_id", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("recipe", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("verdict", sa.Text, nullable=False),
    sa.Column("n_defects", sa.Integer, nullable=False),
    sa.Column("defects", sa.Text),  # JSON: bbox, area px and mm², peak score per region
    sa.Column("image_path", sa.Text),
    sa.Column("note", sa.Text),
    # schema 2
    sa.Column("time_utc", sa.Text),
    sa.Column("time_local", sa.Text),
    sa.Column("station", sa.Text),
    sa.Column("camera_serial", sa.Text),
    sa.Column("recipe_version", sa.Integer),
    sa.Column("model_hash", sa.Text),
    sa.Column("margin", sa.Float),
    sa.Column("image_threshold", sa.Float),
    sa.Column("pixel_threshold", sa.Float),
    sa.Column("alarm", sa.Text),
    sa.Column("max_area_px", sa.BigInteger),
    sa.Column("timings", sa.Text),  # JSON: ms per stage
    # schema 5: which runtime ran the model (torch, onnxruntime, openvino); NULL on older rows
    sa.Column("backend", sa.Text),
    sa.Index("inspections_time", "time_ns"),
    sa.Index("inspections_verdict", "verdict"),
    sa.Index("inspections_recipe", "recipe"),
    sa.Index(
        "inspections_image",
        "image_path",
        sqlite_where=sa.text("image_path IS NOT NULL"),
        postgresql_where=sa.text("image_path IS NOT NULL"),
    ),
    # schema 3: one plant database, many stations
    sa.Index("inspections_station_time", "station", "time_ns"),
    sqlite_autoincrement=True,
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("time_ns", sa.BigInteger, nullable=False),
    sa.Column("user", sa.Text),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("details", sa.Text),
    # schema 4: who changed what, old → new, under which recipe (records/audit.py)
    sa.Column("time_utc", sa.Text),
    sa.Column("station", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("target", sa.Text),
    sa.Column("old", sa.Text),  # JSON
    sa.Column("new", sa.Text),  # JSON
    sa.Column("recipe", sa.Text),
    sa.Column("recipe_version", sa.Integer),
    sa.Column("note", sa.Text),
    sa.Index("audit_time", "time_ns"),
    sqlite_autoincrement=True,
)
