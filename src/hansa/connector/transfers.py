"""The transfer process (DSP 2025-1) between real nodes: both sides, persisted, with an outbox.

Same shape as :mod:`hansa.connector.negotiations`: every state change and the message it
causes are written in one transaction (the message into the outbox); inbound messages are
validated, checked against :func:`~hansa.connector.transfer_states.transfer_transition`,
applied once (:mod:`hansa.connector.inbound`) and only by the process's counterparty (any
other caller gets 404).

Provider: a TransferRequestMessage must name a FINALIZED agreement whose consumer is the
caller (404 ``transfer.agreement_not_found`` otherwise, 403
``transfer.agreement_not_finalized`` / ``dataplane.agreement_*`` when it is not in force),
and a supported ``format`` (400 ``transfer.format_unsupported``). The provider starts at
once: for ``HttpData-PULL`` the TransferStartMessage carries a data token for
``{base}/data/{providerPid}``; for ``HttpData-PUSH`` / ``AmazonS3-PUSH`` the data is sent
after the start message was delivered, then a TransferCompletionMessage follows with the
content's SHA-256 (:mod:`hansa.connector.transfer_data`).

Consumer: :meth:`TransferService.start` requests a transfer under an agreement it holds;
on TransferStartMessage a pull runs in the background into the destination (default a
file under ``data_dir/files/transfers/``) and, once the size and SHA-256 are checked, the
consumer sends the completion. A failed pull terminates the transfer with the error's
code; a partial transfer is never COMPLETED. Suspension and termination (either side)
stop a running pull or push within one chunk; resuming sends a new TransferStartMessage
(the provider's carries a new token; a consumer resuming a pull asks for one).

Token renewal (Hansa extension): ``POST {dsp}/transfers/{providerPid}/token`` by the
consumer (DCP-authenticated) answers a fresh PULL DataAddress while the transfer is
STARTED and the agreement in force.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector import dsp_messages as dsp
from hansa.connector import transfer_data as data
from hansa.connector.agreements import AgreementEnforcer
from hansa.connector.assets import AssetService
from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.credential_service import SecureTokenService
from hansa.connector.dsp_schemas import validate_message
from hansa.connector.inbound import already_processed, message_digest, remember_processed
from hansa.connector.negotiation_checks import check_callback_address
from hansa.connector.outbox import OutboundMessage, OutboxWorker, enqueue
from hansa.connector.process_models import ContractNegotiationRecord
from hansa.connector.transfer_models import TransferProcessRecord as Record
from hansa.connector.transfer_states import (
    TRANSFER_COMPLETION,
    TRANSFER_REQUEST,
    TRANSFER_START,
    TRANSFER_TERMINATION,
    InvalidTransition,
    TransferState,
    transfer_transition,
)
from hansa.dataplane.backends import BackendRegistry
from hansa.dataplane.errors import TRANSFER_NOT_FOUND
from hansa.dataplane.pull import pull
from hansa.dataplane.server import TransferTarget
from hansa.dataplane.tokens import DataGrant
from hansa.dataplane.usage import Access, SqlUsageLog, access_event
from hansa.db import transaction, utcnow
from hansa.errors import BadRequest, Conflict, HansaError, NotFound
from hansa.fetch import GuardedClient

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


def _new_pid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


class TransferService:
    """Both sides of the transfer process for one node; see the module docstring."""

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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``auto_start``: the provider starts a requested transfer at once (else: ``act``)."""
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

    # --- provider ------------------------------------------------------------------------

    def receive_request(self, caller_did: str, body: Any, *, path: str) -> Answer:
        """``POST /transfers/request`` (201 + TransferProcess in REQUESTED)."""
        validate_message(body, expected_type=TRANSFER_REQUEST)
        if "providerPid" in body:
            raise BadRequest(
                "a TransferRequestMessage has no providerPid",
                code="transfer.unexpected_provider_pid",
                pointer="/providerPid",
            )
        callback = check_callback_address(
            body.get("callbackAddress"),
            allow_loopback=self._allow_loopback,
            allow_private=self._allow_private,
        )
        digest = message_digest(path, body)
        with self._sessions() as session:
            done = already_processed(session, caller_did, digest)
        if done is not None:
            return done
        agreement = self.agreements.finalized(body["agreementId"], caller_did)
        kind = body["format"]
        if kind not in data.TRANSFER_TYPES:
            raise BadRequest(
                f"format {kind!r} is not supported; use one of {', '.join(data.TRANSFER_TYPES)}",
                code="transfer.format_unsupported",
                pointer="/format",
            )
        push_target = None
        if kind != data.PULL:
            push_target = data.check_push_address(kind, body.get("dataAddress"))
            data.check_push_target(
                push_target, allow_loopback=self._allow_loopback, allow_private=self._allow_private
            )
        asset_id = str(agreement.get("target"))
        try:
            self.agreements.check(body["agreementId"], caller_did, asset_id)
        except HansaError as exc:
            # A refused request is a use refused: it goes into the usage log too.
            refusal = Access(
                transfer_id=str(body["consumerPid"]),
                agreement_id=str(body["agreementId"]),
                counterparty=caller_did,
                asset_id=asset_id,
                bytes=0,
                outcome="refused",
                error=exc.code,
            )
            self.usage.record(access_event(refusal, source=f"{self.did}/dataplane"))
            raise
        record = Record(
            id=_new_pid(),
            role="provider",
            state="",
            counterparty_did=caller_did,
            counterparty_pid=body["consumerPid"],
            counterparty_address=callback,
            agreement_id=body["agreementId"],
            asset_id=asset_id,
            transfer_type=kind,
            data_address=push_target,
            history=[],
        )
        try:
            with transaction(self._sessions) as session:
                session.add(record)
                self._move(record, TRANSFER_REQUEST, "consumer")
                answer: Answer = (201, self._ack(record))
                if self.auto_start:
                    self._send(session, record, self._start_message(record))
                remember_processed(
                    session,
                    sender=caller_did,
                    digest=digest,
                    process_id=record.id,
                    status_code=answer[0],
                    response=answer[1],
                )
        except IntegrityError:
            with self._sessions() as session:
                done = already_processed(session, caller_did, digest)
            if done is not None:
                return done
            raise Conflict(
                f"a transfer with consumerPid {body['consumerPid']!r} exists already",
                code="transfer.consumer_pid_taken",
                pointer="/consumerPid",
            ) from None
        self._committed(session)
        return answer

    def resolve(self, transfer_id: str) -> TransferTarget:
        """The data endpoint's ``resolve_transfer``: a STARTED transfer we provide."""
        with self._sessions() as session:
            record = session.get(Record, transfer_id)
            if record is None or record.role != "provider":
                raise NotFound(f"there is no transfer {transfer_id!r}", code=TRANSFER_NOT_FOUND)
            if record.state != TransferState.STARTED:
                raise Conflict(
                    f"transfer {transfer_id} is {record.state}, not STARTED",
                    code="dataplane.transfer_not_started",
                )
            return TransferTarget(
                transfer_id=record.id,
                agreement_id=record.agreement_id,
                consumer_did=record.counterparty_did,
                asset_id=record.asset_id,
                address=self._assets.get_asset(record.asset_id).data_address,
            )

    def renew_token(self, caller_did: str, pid: str) -> dict[str, Any]:
        """``POST /transfers/{pid}/token``: a fresh PULL DataAddress for a STARTED transfer."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.role != "provider" or record.counterparty_did != caller_did:
                raise NotFound(f"there is no transfer {pid!r} with you", code="transfer.not_found")
            if record.transfer_type != data.PULL or record.state != TransferState.STARTED:
                raise BadRequest(
                    f"a token is renewed only for a STARTED HttpData-PULL (it is {record.state})",
                    code="transfer.token_not_renewable",
                )
            self.agreements.check(record.agreement_id, caller_did, record.asset_id)
            return {"dataAddress": self._pull_address(record)}

    # --- both sides: messages on an existing process -------------------------------------

    def receive(
        self, caller_did: str, role: str, pid: str, body: Any, *, path: str, expected_type: str
    ) -> Answer:
        """A message on transfer ``pid`` where we play ``role`` (200 + TransferProcess)."""
        validate_message(body, expected_type=expected_type)
        digest = message_digest(path, body)
        after: Callable[[], None] | None = None
        try:
            with transaction(self._sessions) as session:
                record = self._lock(session, pid, role)
                if record is None or record.counterparty_did != caller_did:
                    raise NotFound(
                        f"there is no transfer process {pid!r} with you",
                        code="transfer.not_found",
                    )
                self._check_pids(record, body)
                self._check_completion(record, body, expected_type)
                try:
                    self._move(
                        record, expected_type, "consumer" if role == "provider" else "provider"
                    )
                except InvalidTransition:
                    done = already_processed(session, caller_did, digest)
                    if done is not None:
                        return done
                    raise
                answer: Answer = (200, self._ack(record))
                after = self._react(record, expected_type, body)
                remember_processed(
                    session,
                    sender=caller_did,
                    digest=digest,
                    process_id=record.id,
                    status_code=answer[0],
                    response=answer[1],
                )
        except IntegrityError:
            with self._sessions() as session:
                done = already_processed(session, caller_did, digest)
            if done is None:
                raise
            return done
        self._committed(session)
        if after is not None:
            after()
        return answer

    def _check_pids(self, record: Record, body: Mapping[str, Any]) -> None:
        ours, theirs = (
            ("providerPid", "consumerPid")
            if record.role == "provider"
            else ("consumerPid", "providerPid")
        )
        if body.get(ours) != record.id:
            raise BadRequest(
                f"{ours} {body.get(ours)!r} does not name this transfer ({record.id})",
                code="transfer.pid_mismatch",
                pointer=f"/{ours}",
            )
        if record.counterparty_pid is None:
            record.counterparty_pid = body.get(theirs)
        elif body.get(theirs) != record.counterparty_pid:
            raise BadRequest(
                f"{theirs} {body.get(theirs)!r} is not {record.counterparty_pid!r}",
                code="transfer.pid_mismatch",
                pointer=f"/{theirs}",
            )

    def _check_completion(self, record: Record, body: Mapping[str, Any], kind: str) -> None:
        """A push consumer refuses a completion whose content it can check and that differs."""
        if kind != TRANSFER_COMPLETION or record.role != "consumer":
            return
        claimed = body.get(data.SHA256_PROPERTY)
        if record.transfer_type == data.S3_PUSH and claimed and record.data_address:
            destination = data.s3_destination(record.data_address)
            backend = self.backends.for_address(destination)
            with backend.open(destination) as stream:
                from hansa.dataplane.streaming import HashingIterator

                hashed = HashingIterator(stream.chunks)
                for _ in hashed:
                    pass
            if hashed.hexdigest() != claimed:
                raise BadRequest(
                    "the data in the bucket does not match the completion's SHA-256",
                    code="transfer.integrity_failed",
                    pointer="/" + data.SHA256_PROPERTY,
                )

    def _react(
        self, record: Record, kind: str, body: Mapping[str, Any]
    ) -> Callable[[], None] | None:
        """Apply what an inbound message carries; what to run after the commit."""
        if kind == TRANSFER_TERMINATION:
            record.error_code = body.get("code")
            reason = body.get("reason")
            record.error_reason = "; ".join(map(str, reason)) if isinstance(reason, list) else None
            return None
        if kind == TRANSFER_COMPLETION:
            claimed, size = body.get(data.SHA256_PROPERTY), body.get(data.SIZE_PROPERTY)
            record.sha256 = str(claimed) if claimed else record.sha256
            if isinstance(size, str) and size.isdigit():
                record.size = int(size)
            if record.role == "consumer":
                receipt = self._receipt(record, record.size or 0, "completed")
                return lambda: self.usage.record(receipt)
            return None
        if kind == TRANSFER_START and record.role == "consumer":
            if isinstance(body.get("dataAddress"), dict):
                record.data_address = dict(body["dataAddress"])
            endpoint = (record.data_address or {}).get("endpoint")
            if record.transfer_type == data.PULL and isinstance(endpoint, str):
                pid = record.id
                return lambda: self._spawn(self._run_pull, pid)
        if (
            kind == TRANSFER_START
            and record.role == "provider"
            and record.transfer_type != data.PULL
        ):
            pid = record.id
            return lambda: self._spawn(self._run_push, pid)
        return None

    def get(self, caller_did: str, role: str, pid: str) -> dict[str, Any]:
        """``GET /transfers/{pid}``: the TransferProcess, for its counterparty only."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.role != role or record.counterparty_did != caller_did:
                raise NotFound(
                    f"there is no transfer process {pid!r} with you", code="transfer.not_found"
                )
            return self._ack(record)

    # --- moving the data ---------------------------------------------------------------

    def _spawn(self, run: Callable[[str], None], pid: str) -> None:
        threading.Thread(target=run, args=(pid,), name=f"transfer-{pid[-8:]}", daemon=True).start()

    def _run_pull(self, pid: str) -> None:
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.state != TransferState.STARTED:
                return
            address, destination = record.data_address or {}, dict(record.destination or {})
        if not isinstance(address.get("endpoint"), str):
            return  # no endpoint given (yet): nothing to pull
        props = data.properties(address)
        guard = self._run_guard(pid)
        try:
            backend = data.StoppableBackend(self.backends.for_address(destination), guard)
            result = pull(
                self._http,
                str(address.get("endpoint")),
                props.get("authorization", ""),
                backend,
                destination,
            )
        except Exception as exc:  # every failure ends the transfer
            self._moved_failed(pid, exc)
            return
        self._finished(pid, result.size, result.sha256)

    def _run_push(self, pid: str) -> None:
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.state != TransferState.STARTED or not record.data_address:
                return
            target, kind, asset_id = (
                dict(record.data_address),
                record.transfer_type,
                record.asset_id,
            )
            agreement_id, consumer = record.agreement_id, record.counterparty_did
        run_guard = self._run_guard(pid)

        def running() -> bool:
            # A push is enforced like a pull: the agreement is checked before every chunk.
            self.agreements.check(agreement_id, consumer, asset_id)
            return run_guard()

        try:
            size, sha256 = data.push(
                backends=self.backends,
                http=self._http,
                source=self._assets.get_asset(asset_id).data_address,
                transfer_type=kind,
                target=target,
                running=running,
            )
        except Exception as exc:  # every failure ends the transfer
            self._moved_failed(pid, exc)
            return
        self._finished(pid, size, sha256)

    def _finished(self, pid: str, size: int, sha256: str) -> None:
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is None or record.state != TransferState.STARTED:
                return  # suspended or terminated meanwhile: never reported complete
            record.size, record.sha256 = size, sha256
            self._send(session, record, self._completion(record))
            receipt = (
                self._receipt(record, size, "completed") if record.role == "consumer" else None
            )
        self._committed(session)
        if receipt is not None:
            self.usage.record(receipt)

    def _moved_failed(self, pid: str, error: BaseException) -> None:
        code, reason = data.describe(error)
        receipt = None
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is None:
                return
            if record.role == "consumer":
                outcome = "refused" if "agreement" in code else "failed"
                receipt = self._receipt(record, 0, outcome, code)
            if code in (data.TRANSFER_STOPPED, "dataplane.transfer_not_started"):
                pass  # stopped by a suspension or termination, which the state already says
            elif record.state != TransferState.STARTED:
                record.error_code, record.error_reason = code, reason
            else:
                self._terminate(session, record, code, reason)
        self._committed(session)
        if receipt is not None:
            self.usage.record(receipt)

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

    # --- management (the consumer's requests, either side's moves) ---------------------

    def start(
        self, *, agreement_id: str, transfer_type: str, destination: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Consumer: request a transfer under an agreement we hold (REQUESTED)."""
        if transfer_type not in data.TRANSFER_TYPES:
            raise BadRequest(
                f"type must be one of {', '.join(data.TRANSFER_TYPES)}",
                code="transfer.format_unsupported",
                pointer="/type",
            )
        with self._sessions() as session:
            negotiation = session.scalars(
                select(ContractNegotiationRecord).where(
                    ContractNegotiationRecord.agreement_id == agreement_id,
                    ContractNegotiationRecord.role == "consumer",
                )
            ).first()
            if negotiation is None or negotiation.state != "FINALIZED":
                raise NotFound(
                    f"this node holds no FINALIZED agreement {agreement_id!r}",
                    code="transfer.agreement_not_found",
                    pointer="/agreementId",
                )
            provider, address = negotiation.counterparty_did, negotiation.counterparty_address
            asset_id = str((negotiation.agreement or {}).get("target", ""))
        pid = _new_pid()
        push_target = None
        local = None
        if transfer_type == data.PULL:
            local = dict(destination or {"type": "File", "path": _default_path(pid)})
        else:
            push_target = data.check_push_address(transfer_type, destination)
        record = Record(
            id=pid,
            role="consumer",
            state="",
            counterparty_did=provider,
            counterparty_address=address,
            agreement_id=agreement_id,
            asset_id=asset_id,
            transfer_type=transfer_type,
            data_address=push_target,
            destination=local,
            history=[],
        )
        body = dsp.transfer_request_message(
            consumer_pid=pid,
            agreement_id=agreement_id,
            format=transfer_type,
            callback_address=self.callback_url,
            data_address=push_target,
        )
        with transaction(self._sessions) as session:
            session.add(record)
            self._send(session, record, body)
        self._committed(session)
        return self.view(pid)

    def act(self, pid: str, action: str, reason: str | None = None) -> dict[str, Any]:
        """Our move: ``start`` (provider), ``suspend``, ``resume``, ``complete`` or
        ``terminate``, as the state machine allows (400 otherwise)."""
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is None:
                raise NotFound(f"there is no transfer {pid!r}", code="transfer.not_found")
            pids = self._pids(record)
            if action == "suspend":
                body = dsp.transfer_suspension_message(
                    **pids, code="transfer.suspended", reason=reason or "suspended by its operator"
                )
                self._send(session, record, body)
            elif action in ("start", "resume"):
                # A pull resumed by the consumer or a push starts once the start is delivered.
                self._send(session, record, self._start_message(record))
            elif action == "complete":
                self._send(session, record, self._completion(record))
            elif action == "terminate":
                self._terminate(
                    session, record, "transfer.terminated", reason or "terminated by its operator"
                )
            else:
                raise BadRequest(
                    f"unknown action {action!r}; use start, suspend, resume, complete or terminate",
                    code="transfer.unknown_action",
                )
        self._committed(session)
        return self.view(pid)

    def _resume_pull(self, pid: str) -> None:
        """Consumer resuming a pull: a new token from the provider, then pull again."""
        try:
            address = self.request_token(pid)
        except HansaError as exc:
            self._moved_failed(pid, exc)
            return
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is not None:
                record.data_address = address
        self._run_pull(pid)

    def request_token(self, pid: str) -> dict[str, Any]:
        """Consumer: ask the provider for a fresh data token for a STARTED pull."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.role != "consumer" or record.counterparty_pid is None:
                raise NotFound(f"there is no started transfer {pid!r}", code="transfer.not_found")
            url = f"{record.counterparty_address}/transfers/{record.counterparty_pid}/token"
            audience = record.counterparty_did
        token = self._sts.id_token(audience)
        answer = self._http.post_json(url, {}, headers={"Authorization": f"Bearer {token}"})
        address = answer.json().get("dataAddress") if isinstance(answer.json(), dict) else None
        if not isinstance(address, dict):
            raise BadRequest("the provider answered no dataAddress", code="transfer.token_missing")
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is not None:
                record.data_address = address
        return address

    def view(self, pid: str) -> dict[str, Any]:
        """A transfer as the management API shows it (404 ``transfer.not_found``)."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None:
                raise NotFound(f"there is no transfer {pid!r}", code="transfer.not_found")
            return transfer_view(record)

    def list(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest transfers first, optionally in one state."""
        with self._sessions() as session:
            query = select(Record).order_by(Record.created_at.desc()).limit(limit)
            if state:
                query = query.where(Record.state == state.upper())
            return [transfer_view(r) for r in session.scalars(query)]

    # --- the outbox handler ------------------------------------------------------------

    def deliver(self, message: OutboundMessage) -> Any:
        """Send one message with a DCP token for the counterparty; keep its answer."""
        token = self._sts.id_token(message.audience, scopes=message.scopes)
        response = self._http.post_json(
            message.target_url, message.body, headers={"Authorization": f"Bearer {token}"}
        )
        answer = response.json() if response.content.strip() else None
        if message.message_type == TRANSFER_START:
            self._started(message.process_id)
        if message.message_type == TRANSFER_REQUEST and isinstance(answer, dict):
            with transaction(self._sessions) as session:
                record = self._lock(session, message.process_id, "consumer")
                if record is not None and record.counterparty_pid is None:
                    provider_pid = answer.get("providerPid")
                    record.counterparty_pid = (
                        provider_pid if isinstance(provider_pid, str) else None
                    )
        return answer

    def _started(self, pid: str) -> None:
        """Our start message was delivered: a push begins, a consumer's resumed pull too."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None:
                return
            role, kind = record.role, record.transfer_type
        if role == "provider" and kind != data.PULL:
            self._spawn(self._run_push, pid)
        elif role == "consumer" and kind == data.PULL:
            self._spawn(self._resume_pull, pid)

    def refused(self, message: OutboundMessage, error: HansaError) -> None:
        """The counterparty refused for good: the transfer ends (TERMINATED)."""
        code, reason = data.describe(error)
        with transaction(self._sessions) as session:
            record = session.get(Record, message.process_id)
            if record is None or record.state in ("COMPLETED", "TERMINATED"):
                if record is not None and message.message_type == TRANSFER_COMPLETION:
                    record.error_code, record.error_reason = code, reason
                return
            record.error_code, record.error_reason = code, f"{message.message_type}: {reason}"
            record.state = "TERMINATED"
            self._stopped.add(record.id)
            record.history = [
                *(record.history or []),
                {"state": "TERMINATED", "at": self._clock().isoformat()},
            ]
            receipt = None
            if record.role == "consumer" and message.message_type == TRANSFER_REQUEST:
                receipt = self._receipt(record, 0, "refused", code)
        self._committed()
        if receipt is not None:
            self.usage.record(receipt)


def _default_path(pid: str) -> str:
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


__all__ = ["CALLBACK_PATH", "RECEIPT_EVENT_TYPE", "TOPIC", "TransferService", "transfer_view"]
