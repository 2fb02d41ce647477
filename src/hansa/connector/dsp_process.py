"""Logic contract negotiations and transfer processes share, over their stored records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from hansa.errors import BadRequest


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


__all__ = ["ProcessRecord", "check_pids"]
