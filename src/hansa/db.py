"""SQLAlchemy 2 base, engine and session factory; SQLite by default, PostgreSQL by URL.

SQLite lets one writer in at a time, and a writer that finds the database locked sleeps in
SQLite's busy handler (1 ms, then 2, 5, 10 ... ms) before it tries again: two threads of one
node writing at once (a protocol message's replay check while the outbox records the
previous delivery) cost the second one a millisecond or more for a lock held a fraction of
that. So the threads of one process queue for a file's write lock on a Python lock first
(:class:`_GatedConnection`), taken with the transaction's first write and given back at its
commit or rollback, and each wakes the moment the writer before it is done. Other
processes on the same file still meet SQLite's own lock and busy handler.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of every Hansa table."""


_WRITE_GATES: dict[str, threading.Lock] = {}
_WRITE_GATES_LOCK = threading.Lock()
_BUSY_TIMEOUT = 30.0
#: Statements with which pysqlite opens a transaction (its implicit BEGIN): the writes.
_WRITES = ("insert", "update", "delete", "replace")


def _write_gate(database: str) -> threading.Lock:
    with _WRITE_GATES_LOCK:
        return _WRITE_GATES.setdefault(os.path.realpath(database), threading.Lock())


class _GatedConnection(sqlite3.Connection):
    """A connection whose write transactions queue on the process's lock for its file."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = os.fsdecode(database)
        in_memory = name in ("", ":memory:") or kwargs.get("uri", False)
        self._gate = None if in_memory else _write_gate(name)
        self._holding = False

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _GatedCursor)

    def _before(self, sql: str) -> None:
        if self._gate is None or self._holding or self.in_transaction:
            return
        if sql.lstrip()[:7].lower().startswith(_WRITES):
            # On a timeout, go on: SQLite's own lock and busy handler still decide.
            self._holding = self._gate.acquire(timeout=_BUSY_TIMEOUT)

    def _after(self) -> None:
        # A write that opened no transaction (it failed, or ran in autocommit) is done.
        if self._holding and not self.in_transaction:
            self._release()

    def _release(self) -> None:
        # getattr: __del__ runs even when __init__ failed before setting the attributes.
        if getattr(self, "_holding", False) and self._gate is not None:
            self._holding = False
            self._gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def __del__(self) -> None:
        # A connection dropped without close must not keep the others waiting.
        self._release()


class _GatedCursor(sqlite3.Cursor):
    connection: _GatedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> _GatedCursor:
        self.connection._before(sql)
        try:
            super().execute(sql, parameters)
        finally:
            self.connection._after()
        return self

    def executemany(self, sql: str, parameters: Any, /) -> _GatedCursor:
        self.connection._before(sql)
        try:
            super().executemany(sql, parameters)
        finally:
            self.connection._after()
        return self


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite, enable WAL, foreign keys and a busy timeout.

    SQLite's writers in this process queue on a lock per file (see the module docstring).
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": _BUSY_TIMEOUT,
                "factory": _GatedConnection,
            },
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection_engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest revision of every domain.

    Each domain keeps its own branch of migrations (``branch_labels``) rooted at the
    identity tables, so domains evolve without serialising on one chain: "heads".
    """
    command.upgrade(alembic_config(engine), "heads")
