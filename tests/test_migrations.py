"""The migrations build exactly the schema the models declare, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import hansa.models  # noqa: F401  (all tables)
from hansa.db import Base, migrate


def test_models_and_migrations_agree(engine: Engine) -> None:
    """A model changed without a migration fails here (as in Warehouse's CI)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrating_twice_is_harmless(engine: Engine) -> None:
    migrate(engine)
