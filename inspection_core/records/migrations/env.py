"""Alembic environment: migrations run on the connection `inspection_core.records.db.migrate` passes
(in its transaction, under its lock); without one (the `alembic` command line) on $AOI_RECORDS_URL."""

from __future__ import annotations

from alembic import context

from inspection_core.records.schema import metadata


def _run(connection) -> None:  # noqa: ANN001 - sqlalchemy.Connection
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


_con = context.config.attributes.get("connection")
if _con is not None:
    _run(_con)
else:
    from inspection_core.records.db import make_engine, records_url

    with make_engine(records_url()).begin() as _c:
        _run(_c)
