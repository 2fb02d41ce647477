"""Alembic environment: the engine comes from ``hansa.db.migrate`` (no ini file)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import hansa.models  # noqa: F401  (registers every table on Base.metadata)
from hansa.db import Base

engine: Engine = context.config.attributes["connection_engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
