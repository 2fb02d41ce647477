"""Inbound protocol messages: whether they were applied already.

:func:`already_processed` / :func:`remember_processed` make inbound
messages idempotent: the same message (same endpoint, same body) from the same sender gets
the answer it got the first time, and changes nothing again. Transfers use them too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from hansa.connector.process_models import ProcessedMessage
from hansa.db import utcnow

_INSERT = insert(cast(Table, ProcessedMessage.__table__))


def message_digest(path: str, body: Mapping[str, Any]) -> str:
    """SHA-256 over the endpoint path and the body's canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{path}\n{canonical}".encode()).hexdigest()


def already_processed(
    session: Session, sender: str, digest: str
) -> tuple[int, dict[str, Any]] | None:
    """The status and body answered to this message before, if it was applied."""
    row = session.scalars(
        select(ProcessedMessage).where(
            ProcessedMessage.sender == sender, ProcessedMessage.digest == digest
        )
    ).first()
    return (row.status_code, row.response) if row is not None else None


def remember_processed(
    session: Session,
    *,
    sender: str,
    digest: str,
    process_id: str,
    status_code: int,
    response: Mapping[str, Any],
) -> None:
    """Record the answer in the transaction that applied the message.

    Inserted at once (a message seen before fails here, with ``IntegrityError``), as one
    prepared statement rather than an object for the ORM to flush: every message pays it.
    """
    session.execute(
        _INSERT,
        {
            "sender": sender,
            "digest": digest,
            "process_id": process_id,
            "status_code": status_code,
            "response": dict(response),
            "created_at": utcnow(),
        },
    )


__all__ = [
    "already_processed",
    "message_digest",
    "remember_processed",
]
