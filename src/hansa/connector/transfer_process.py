"""The transfer process's plumbing: the persisted record, its state moves, the messages.

:class:`TransferProcesses` holds what both sides share (see :mod:`hansa.connector.transfers`
for the protocol): moving a record through the state machine, writing the message that a
move causes into the outbox in the same transaction, building start and completion
messages, knowing which transfers may move bytes now, and the management views.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector import dsp_messages as dsp
from hansa.connector import transfer_data as data
from hansa.connector.agreements import AgreementEnforcer
from hansa.connector.assets import AssetService
from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.credential_service import SecureTokenService
from hansa.connector.dsp_process import list_processes, view_process
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.outbox import OutboxWorker, enqueue
from hansa.connector.transfer_leases import MovementLeases, MovementSweep
from hansa.connector.transfer_models import TransferProcessRecord as Record
from hansa.connector.transfer_states import (
    TRANSFER_COMPLETION,
    TRANSFER_REQUEST,
    TRANSFER_START,
    TRANSFER_TERMINATION,
    TransferState,
    transfer_transition,
)
from hansa.dataplane.backends import BackendRegistry
from hansa.dataplane.tokens import DataGrant
from hansa.dataplane.usage import Access, SqlUsageLog, access_event
from hansa.db import utcnow
from hansa.errors import Conflict
from hansa.fetch import GuardedClient

log = logging.getLogger("hansa.connector.transfers")

TOPIC = "transfer"
CALLBACK_PATH = DSP_BASE_PATH + "/callback"
RECEIPT_EVENT_TYPE = "dev.hansa.dataplane.receipt"
Answer = tuple[int, dict[str, Any]]
_PATHS = {
    TRANSFER_START: "start",
    TRANSFER_COMPLETION: "completion",
    TRANSFER_TERMINATION: "termination",
    "TransferSuspensionMessage": "suspension",
}


def new_pid() -> str:
    """A new process id (``urn:uuid:...``)."""
    return f"urn:uuid:{uuid.uuid4()}"


class TransferProcesses:
    """The shared part of both sides of the transfer process (see the module docstring)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        did: str,
        base_url: str,
        http: GuardedClient,
        sts: SecureTokenService,
        agreements: AgreementEnforcer,
        tokens: data.LazyTokenAuthority,
        backends: BackendRegistry,
        usage: SqlUsageLog,
        assets: AssetService,
        outbox: OutboxWorker | None = None,
        allow_loopback_callbacks: bool = False,
        allow_private_callbacks: bool = False,
        auto_start: bool = True,
        lease_seconds: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``auto_start``: the provider starts a requested transfer at once (else: ``act``);
        ``lease_seconds``: how long a claim on a transfer's data movement holds unrenewed."""
        self._sessions = sessions
        self.did = did
        self.base_url = base_url.rstrip("/")
        self.callback_url = self.base_url + CALLBACK_PATH
        self._http, self._sts, self.agreements = http, sts, agreements
        self.tokens, self.backends, self.usage = tokens, backends, usage
        self._assets, self._outbox = assets, outbox
        self._allow_loopback, self._allow_private = (
            allow_loopback_callbacks,
            allow_private_callbacks,
        )
        self._clock = clock
        self.auto_start = auto_start
        self._changed = threading.Condition()
        # Transfers whose bytes may flow, by our pid: checked per chunk without a query.
        self._stopped: set[str] = set()
        # Each pull or push run of a transfer gets a generation; an older run (one that was
        # suspended and then resumed) stops at its next chunk instead of racing the new one.
        self._generation: dict[str, int] = {}
        self._generation_lock = threading.Lock()
        self.leases = MovementLeases(sessions, lease_seconds=lease_seconds, clock=clock)
        self.sweep = MovementSweep(self.leases, self._restart, clock=clock)
        """Moves again what a dead process was moving; started with the node's workers."""

    # --- plumbing ------------------------------------------------------------------------

    def _committed(self, session: Session | None = None) -> None:
        if session is not None and self._outbox is not None:
            self._outbox.dispatch(session)
        with self._changed:
            self._changed.notify_all()

    def wait(self, pid: str, states: tuple[str, ...], timeout: float) -> dict[str, Any]:
        """The transfer once it is in one of ``states``, or as it is after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                view = self.view(pid)
                left = deadline - time.monotonic()
                if view["state"] in states or left <= 0:
                    return view
                self._changed.wait(min(left, 1.0))

    def _lock(self, session: Session, pid: str, role: str | None = None) -> Record | None:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(update(Record).where(Record.id == pid).values(state=Record.state))
        query = select(Record).where(Record.id == pid)
        if role is not None:
            query = query.where(Record.role == role)
        return session.scalars(query.with_for_update()).first()

    def _move(self, record: Record, kind: str, sender: str) -> TransferState:
        current = TransferState(record.state) if record.state else None
        target = transfer_transition(current, kind, role=record.role, sender=sender)  # type: ignore[arg-type]
        now = self._clock()
        record.state = target.value
        record.history = [*(record.history or []), {"state": target.value, "at": now.isoformat()}]
        record.updated_at = now
        if target == TransferState.STARTED:
            self._stopped.discard(record.id)
        else:
            self._stopped.add(record.id)
            # No data moves outside STARTED; a resumption claims the movement afresh.
            record.mover = record.lease_until = None
        return target

    def _pids(self, record: Record) -> dict[str, str]:
        other = record.counterparty_pid or ""
        if record.role == "provider":
            return {"provider_pid": record.id, "consumer_pid": other}
        return {"provider_pid": other, "consumer_pid": record.id}

    def _ack(self, record: Record) -> dict[str, Any]:
        return dsp.transfer_process(**self._pids(record), state=record.state)

    def _send(self, session: Session, record: Record, body: dict[str, Any]) -> None:
        kind = str(body["@type"])
        self._move(record, kind, record.role)
        if kind == TRANSFER_REQUEST:
            path = "/transfers/request"
        else:
            if record.counterparty_pid is None:
                raise Conflict(
                    "the provider has not answered the request yet (its pid is unknown); retry",
                    code="transfer.counterparty_pid_unknown",
                )
            path = f"/transfers/{record.counterparty_pid}/{_PATHS[kind]}"
        validate_message(body)
        write = self._outbox.enqueue if self._outbox is not None else enqueue
        write(
            session,
            topic=TOPIC,
            process_id=record.id,
            target_url=record.counterparty_address + path,
            audience=record.counterparty_did,
            body=body,
        )

    def _terminate(self, session: Session, record: Record, code: str, reason: str) -> None:
        record.error_code, record.error_reason = code, reason
        self._send(
            session,
            record,
            dsp.transfer_termination_message(**self._pids(record), code=code, reason=reason),
        )

    def _start_message(self, record: Record) -> dict[str, Any]:
        address = self._pull_address(record) if record.transfer_type == data.PULL else None
        return dsp.transfer_start_message(**self._pids(record), data_address=address)

    def _pull_address(self, record: Record) -> dict[str, Any]:
        token = self.tokens.issue(
            DataGrant(record.agreement_id, record.id, record.counterparty_did, record.asset_id)
        )
        return data.pull_address(f"{self.base_url}/data/{record.id}", token)

    def _completion(self, record: Record) -> dict[str, Any]:
        body = dsp.transfer_completion_message(**self._pids(record))
        if record.sha256:
            body[data.SHA256_PROPERTY] = record.sha256
        if record.size is not None:
            body[data.SIZE_PROPERTY] = str(record.size)
        return body

    def running(self, pid: str) -> bool:
        """Whether bytes may flow for transfer ``pid`` now (no query: per chunk)."""
        return pid not in self._stopped

    def _run_guard(self, pid: str) -> Callable[[], bool]:
        """A new run of ``pid``: its ``running()`` is False once stopped or superseded."""
        with self._generation_lock:
            generation = self._generation.get(pid, 0) + 1
            self._generation[pid] = generation
        return lambda: self.running(pid) and self._generation.get(pid) == generation

    def _restart(self, pid: str, run: str) -> None:
        """Move the data of ``pid``, claimed by the sweep for ``run``, again (a side's job)."""
        raise NotImplementedError

    def _mover_guard(self, pid: str, run: str) -> Callable[[], bool]:
        """:meth:`_run_guard` that also renews ``run``'s lease now and then.

        False once the lease is lost: another run moves the data now, or the transfer left
        STARTED (perhaps in another process of this node).
        """
        local = self._run_guard(pid)
        renewed = time.monotonic()

        def running() -> bool:
            nonlocal renewed
            if not local():
                return False
            now = time.monotonic()
            if now - renewed < self.leases.renew_every:
                return True
            renewed = now
            try:
                return self.leases.renew(pid, run)
            except Exception:  # a database hiccup: go on; a lost lease shows at the next try
                log.exception("renewing the lease of transfer %s failed", pid)
                return True

        return running

    def _receipt(
        self, record: Record, size: int, outcome: str, error: str | None = None
    ) -> dict[str, Any]:
        """A usage event of the consumer (type ``dev.hansa.dataplane.receipt``)."""
        event = access_event(
            Access(
                transfer_id=record.id,
                agreement_id=record.agreement_id,
                counterparty=record.counterparty_did,
                asset_id=record.asset_id,
                bytes=size,
                outcome=outcome,
                error=error,
            ),
            source=f"{self.did}/connector",
            time=self._clock(),
        )
        event["type"] = RECEIPT_EVENT_TYPE
        return event

    def view(self, pid: str) -> dict[str, Any]:
        """A transfer as the management API shows it (404 ``transfer.not_found``)."""
        return view_process(
            self._sessions,
            Record,
            pid,
            transfer_view,
            process="transfer",
            code="transfer.not_found",
        )

    def list(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest transfers first, optionally in one state."""
        return list_processes(self._sessions, Record, transfer_view, state, limit)


def default_pull_path(pid: str) -> str:
    """Where a pull lands by default: ``transfers/<uuid>`` under the node's file root."""
    return str(PurePosixPath("transfers") / pid.rsplit(":", 1)[-1])


def transfer_view(record: Record) -> dict[str, Any]:
    """A transfer for the management API."""
    provider_pid, consumer_pid = (
        (record.id, record.counterparty_pid)
        if record.role == "provider"
        else (record.counterparty_pid, record.id)
    )
    return {
        "id": record.id,
        "role": record.role,
        "state": record.state,
        "type": record.transfer_type,
        "providerPid": provider_pid,
        "consumerPid": consumer_pid,
        "agreementId": record.agreement_id,
        "assetId": record.asset_id,
        "counterpartyDid": record.counterparty_did,
        "destination": record.destination,
        "size": record.size,
        "sha256": record.sha256,
        "error": (
            {"code": record.error_code, "reason": record.error_reason}
            if record.error_code
            else None
        ),
        "history": record.history,
    }


__all__ = [
    "CALLBACK_PATH",
    "RECEIPT_EVENT_TYPE",
    "TOPIC",
    "Answer",
    "TransferProcesses",
    "default_pull_path",
    "new_pid",
    "transfer_view",
]
