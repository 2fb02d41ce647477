"""The usage log: every access to the data endpoint as a CloudEvents 1.0 event.

    {"specversion": "1.0", "id": "<uuid>", "source": "<provider DID>/dataplane",
     "type": "dev.hansa.dataplane.access", "time": "2026-11-27T10:00:00Z",
     "subject": "<transfer id>", "datacontenttype": "application/json",
     "data": {"agreement": "...", "counterparty": "<consumer DID>", "asset": "...",
              "transfer": "...", "bytes": 1048576, "outcome": "completed",
              "range": "bytes 0-1048575/3145745", "error": null}}

``outcome`` is ``completed``, ``aborted`` (the consumer hung up; ``bytes`` is what was
sent), ``revoked`` (the agreement stopped being in force mid-stream), ``failed`` (the
storage failed) or ``refused`` (the agreement check refused the request before any
byte). Billing reads these events; both sides may keep them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hansa.dataplane.models import UsageEventRecord
from hansa.db import transaction

ACCESS_EVENT_TYPE = "dev.hansa.dataplane.access"
OUTCOMES = frozenset({"completed", "aborted", "revoked", "failed", "refused"})


@dataclass(frozen=True)
class Access:
    """The facts of one access, before they become a CloudEvent."""

    transfer_id: str
    agreement_id: str
    counterparty: str
    asset_id: str
    bytes: int
    outcome: str
    range: str | None = None
    error: str | None = None


class UsageLog(Protocol):
    """Where usage events go (the provider's database; a list in tests)."""

    def record(self, event: dict[str, Any]) -> None:
        """Store one CloudEvent (structured JSON mode)."""
        ...


def access_event(
    access: Access,
    *,
    source: str,
    time: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``access`` as a CloudEvents 1.0 event in structured JSON mode."""
    if access.outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {access.outcome!r}")
    when = (time or datetime.now(UTC)).astimezone(UTC)
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": ACCESS_EVENT_TYPE,
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "subject": access.transfer_id,
        "datacontenttype": "application/json",
        "data": {
            "agreement": access.agreement_id,
            "counterparty": access.counterparty,
            "asset": access.asset_id,
            "transfer": access.transfer_id,
            "bytes": access.bytes,
            "outcome": access.outcome,
            "range": access.range,
            "error": access.error,
        },
    }


class MemoryUsageLog:
    """Keeps events in a list: for tests and for nodes without a database."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, event: dict[str, Any]) -> None:
        """Append ``event``."""
        self.events.append(event)


class SqlUsageLog:
    """Stores events in ``dataplane_usage_events`` (one transaction per event)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, event: dict[str, Any]) -> None:
        """Insert ``event``; its ``id`` is the primary key, so a repeat is refused."""
        data = event["data"]
        row = UsageEventRecord(
            id=event["id"],
            type=event["type"],
            time=datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
            transfer_id=data["transfer"],
            agreement_id=data["agreement"],
            counterparty=data["counterparty"],
            asset_id=data["asset"],
            bytes=data["bytes"],
            outcome=data["outcome"],
            event=event,
        )
        with transaction(self._sessions) as session:
            session.add(row)

    def events(
        self, *, agreement_id: str | None = None, transfer_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored events in time order, optionally for one agreement or transfer."""
        query = select(UsageEventRecord).order_by(UsageEventRecord.time, UsageEventRecord.id)
        if agreement_id is not None:
            query = query.where(UsageEventRecord.agreement_id == agreement_id)
        if transfer_id is not None:
            query = query.where(UsageEventRecord.transfer_id == transfer_id)
        with self._sessions() as session:
            return [dict(row.event) for row in session.scalars(query)]
