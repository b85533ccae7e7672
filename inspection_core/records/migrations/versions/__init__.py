"""Alembic revisions: "0001" = schema 1, "0002" = schema 2, … (the number is the schema version)."""
