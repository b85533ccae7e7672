"""Alembic revisions: "0001" = schema 1, "0002" = schema 2, … (the number is the schema version)."""

from __future__ import annotations


def set_version(version: int) -> None:
    """meta.schema_version (and SQLite's user_version): what readers of any age look at. Called by each
    revision's upgrade and downgrade, inside Alembic's migration context."""
    from alembic import op

    op.execute("DELETE FROM meta WHERE key = 'schema_version'")
    op.execute(f"INSERT INTO meta (key, value) VALUES ('schema_version', '{version}')")
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA user_version={version}")
