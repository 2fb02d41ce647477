"""A node's long-lived parts, built once from settings and passed to every service."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hansa.db import make_engine, make_session_factory, migrate
from hansa.settings import Settings


@dataclass
class Node:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def open(cls, settings: Settings, *, run_migrations: bool = True) -> Node:
        engine = make_engine(settings.sqlalchemy_url())
        if run_migrations:
            migrate(engine)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    def close(self) -> None:
        self.engine.dispose()
