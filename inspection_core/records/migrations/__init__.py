"""Alembic environment and revisions of the records schema (run by `inspection_core.records.db`)."""
