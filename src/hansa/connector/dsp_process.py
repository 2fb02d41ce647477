"""Logic contract negotiations and transfer processes share, over their stored records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.inbound import already_processed
from hansa.connector.process_models import ContractNegotiationRecord
from hansa.connector.transfer_models import TransferProcessRecord
from hansa.errors import BadRequest, NotFound

# Either kind of stored process; constrained so that each is type-checked as itself.
R = TypeVar("R", ContractNegotiationRecord, TransferProcessRecord)


class ProcessRecord(Protocol):
    """The fields of a stored DSP process (negotiation or transfer) the shared checks use."""

    id: str
    role: str
    counterparty_pid: str | None


def check_pids(record: ProcessRecord, body: Mapping[str, Any], *, process: str, code: str) -> None:
    """Refuse a message whose pids do not name ``record``; learn the peer's pid on first sight.

    ``process`` names the kind of process in the message ("negotiation", "transfer") and
    ``code`` is the error code of the refusal.
    """
    ours, theirs = (
        ("providerPid", "consumerPid")
        if record.role == "provider"
        else ("consumerPid", "providerPid")
    )
    if body.get(ours) != record.id:
        raise BadRequest(
            f"{ours} {body.get(ours)!r} does not name this {process} ({record.id})",
            code=code,
            pointer=f"/{ours}",
        )
    if record.counterparty_pid is None:
        record.counterparty_pid = body.get(theirs)
    elif body.get(theirs) != record.counterparty_pid:
        raise BadRequest(
            f"{theirs} {body.get(theirs)!r} is not {record.counterparty_pid!r}",
            code=code,
            pointer=f"/{theirs}",
        )


def earlier_answer(
    sessions: sessionmaker[Session], sender: str, digest: str
) -> tuple[int, dict[str, Any]] | None:
    """The answer a message got when it was applied before, read in a fresh session.

    For the handler of an ``IntegrityError``: the failed transaction cannot be read from.
    """
    with sessions() as session:
        return already_processed(session, sender, digest)


def view_process(
    sessions: sessionmaker[Session],
    model: type[R],
    pid: str,
    render: Callable[[R], dict[str, Any]],
    *,
    process: str,
    code: str,
) -> dict[str, Any]:
    """Process ``pid`` rendered for the management API; 404 ``code`` when there is none."""
    with sessions() as session:
        record = session.get(model, pid)
        if record is None:
            raise NotFound(f"there is no {process} {pid!r}", code=code)
        return render(record)


def list_processes(
    sessions: sessionmaker[Session],
    model: type[R],
    render: Callable[[R], dict[str, Any]],
    state: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The newest ``limit`` processes first, rendered, optionally only those in ``state``."""
    with sessions() as session:
        query = select(model).order_by(model.created_at.desc()).limit(limit)
        if state:
            query = query.where(model.state == state.upper())
        return [render(r) for r in session.scalars(query)]


__all__ = ["ProcessRecord", "check_pids", "earlier_answer", "list_processes", "view_process"]
