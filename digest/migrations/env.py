"""Alembic environment: digest hands over its engine; no alembic.ini is needed.

On SQLite a batch migration rebuilds a table (copy, drop, rename). With foreign keys on,
dropping ``subscriber`` would cascade to every delivery and event, so they are off while
migrations run (SQLite only lets that change outside a transaction) and checked after."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import digest.models  # noqa: F401  (registers the tables on SQLModel.metadata)

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=SQLModel.metadata, render_as_batch=sqlite, compare_type=True
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                raise RuntimeError("a migration left rows whose references are broken")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
