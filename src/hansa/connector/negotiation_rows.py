"""A contract negotiation's row as plain data, read and written with prepared Core statements.

Every protocol message moves a negotiation inside one transaction (locked read, state
change, outbox row, processed-message row). Through the ORM the read built an identity-
mapped object and the commit ran the unit of work to find and write what changed: about
half of that transaction's time. Here the row is a :class:`Negotiation` (attributes named
as the table's columns) that the state code changes freely; :func:`save` writes it back
with one INSERT (a new negotiation) or one UPDATE of the columns a negotiation's life
changes. The table stays :class:`hansa.connector.process_models.ContractNegotiationRecord`.

Locking, as the ORM path did: on PostgreSQL ``SELECT ... FOR UPDATE`` of the row; on
SQLite a no-op UPDATE of the row first, which takes the database's write lock before the
read, so that no other writer slips in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.process_models import ContractNegotiationRecord
from hansa.db import utcnow

_TABLE = cast(Table, ContractNegotiationRecord.__table__)
#: The columns a negotiation's moves change; the others are fixed when it is created.
_CHANGING = (
    "state",
    "counterparty_pid",
    "offer",
    "requested_offer",
    "agreement",
    "agreement_id",
    "error_code",
    "error_reason",
    "history",
    "updated_at",
)
_SELECT = select(*_TABLE.columns)
_BY_ID = _SELECT.where(_TABLE.c.id == bindparam("pid"))
_BY_ID_ROLE = _BY_ID.where(_TABLE.c.role == bindparam("role"))
_LOCKED = _BY_ID.with_for_update()
_LOCKED_ROLE = _BY_ID_ROLE.with_for_update()
_TAKE_SQLITE_LOCK = (
    update(_TABLE).where(_TABLE.c.id == bindparam("pid")).values(state=_TABLE.c.state)
)
_INSERT = insert(_TABLE)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))


@dataclass(slots=True, kw_only=True)
class Negotiation:
    """One contract negotiation as this node sees it; see the table's columns."""

    id: str
    role: str
    state: str
    counterparty_did: str
    counterparty_pid: str | None = None
    counterparty_address: str
    offer_id: str | None = None
    dataset_id: str | None = None
    offer: dict[str, Any]
    requested_offer: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None
    agreement_id: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    stored: bool = field(default=False, repr=False, compare=False)
    """Whether the row exists (read from the database, or saved once)."""


def _from_row(row: Any) -> Negotiation:
    return Negotiation(**row._mapping, stored=True)


def locked(session: Session, pid: str, role: str | None = None) -> Negotiation | None:
    """Negotiation ``pid`` (where we play ``role``, when given), locked until the
    transaction ends."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(_TAKE_SQLITE_LOCK, {"pid": pid})
    if role is None:
        row = session.execute(_LOCKED, {"pid": pid}).first()
    else:
        row = session.execute(_LOCKED_ROLE, {"pid": pid, "role": role}).first()
    return _from_row(row) if row is not None else None


def read(session: Session, pid: str, role: str | None = None) -> Negotiation | None:
    """Negotiation ``pid`` (where we play ``role``, when given), not locked."""
    if role is None:
        row = session.execute(_BY_ID, {"pid": pid}).first()
    else:
        row = session.execute(_BY_ID_ROLE, {"pid": pid, "role": role}).first()
    return _from_row(row) if row is not None else None


def with_counterparty(
    sessions: sessionmaker[Session], role: str, counterparty_did: str, counterparty_pid: str
) -> Negotiation | None:
    """The negotiation a counterparty's pid names (it names at most one)."""
    with sessions() as session:
        row = session.execute(
            _SELECT.where(
                _TABLE.c.role == role,
                _TABLE.c.counterparty_did == counterparty_did,
                _TABLE.c.counterparty_pid == counterparty_pid,
            )
        ).first()
    return _from_row(row) if row is not None else None


def newest(sessions: sessionmaker[Session], state: str | None, limit: int) -> list[Negotiation]:
    """The newest ``limit`` negotiations first, optionally only those in ``state``."""
    query = _SELECT.order_by(_TABLE.c.created_at.desc()).limit(limit)
    if state:
        query = query.where(_TABLE.c.state == state.upper())
    with sessions() as session:
        return [_from_row(row) for row in session.execute(query)]


def save(session: Session, negotiation: Negotiation) -> None:
    """Write ``negotiation`` in ``session``'s transaction: INSERT when new, else UPDATE.

    A new negotiation whose counterparty pid is taken fails here with ``IntegrityError``.
    """
    if negotiation.stored:
        values = {name: getattr(negotiation, name) for name in _CHANGING}
        session.execute(_UPDATE, {**values, "row_id": negotiation.id})
        return
    values = {column.name: getattr(negotiation, column.name) for column in _TABLE.columns}
    session.execute(_INSERT, values)
    negotiation.stored = True


__all__ = ["Negotiation", "locked", "newest", "read", "save", "with_counterparty"]
