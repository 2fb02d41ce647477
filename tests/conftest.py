"""Shared fixtures: every storage test runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from hansa.db import make_engine, make_session_factory, migrate

POSTGRES_URL = os.environ.get("HANSA_TEST_POSTGRES_URL")


def pytest_report_header() -> str:
    if POSTGRES_URL:
        return f"hansa: PostgreSQL tests on {POSTGRES_URL}"
    return "hansa: PostgreSQL variants skipped (set HANSA_TEST_POSTGRES_URL to run them)"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hansa.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL variant: HANSA_TEST_POSTGRES_URL is not set")
    name = f"hansa_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)
