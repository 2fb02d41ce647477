"""Moving a STARTED transfer's data: the consumer's pull, the provider's push, and restarts.

:class:`TransferMovement` holds the part of :class:`~hansa.connector.transfers.TransferService`
that moves bytes (see :mod:`hansa.connector.transfers` for the protocol). Each movement runs
in a thread of its own as one *run* that holds the transfer's lease
(:mod:`hansa.connector.transfer_leases`): it is started when the start message arrives or
was delivered, or by the sweep when the process that moved the data died. The run renews
its lease from the per-chunk guard; it completes the transfer (a pull sends the
completion with the SHA-256), or ends it with the failure's code, only while the lease is
its own, so a run that looked dead never reports anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hansa.connector import transfer_data as data
from hansa.connector.data_address import DataAddressError, resolve_file_path
from hansa.connector.transfer_leases import token_expired
from hansa.connector.transfer_models import TransferProcessRecord as Record
from hansa.connector.transfer_process import TransferProcesses
from hansa.connector.transfer_states import TransferState
from hansa.dataplane.pull import pull
from hansa.db import transaction
from hansa.errors import BadRequest, Conflict, HansaError, NotFound
from hansa.fetch import HttpStatusError


class TransferMovement(TransferProcesses):
    """Pull, push and their restarts for one node (see the module docstring)."""

    # --- one run -----------------------------------------------------------------------

    def _spawn(self, move: Callable[[str, str], None], pid: str, run: str) -> None:
        """Move ``pid``'s data in a thread, as ``run`` (which holds the transfer's lease)."""
        threading.Thread(
            target=move, args=(pid, run), name=f"transfer-{pid[-8:]}", daemon=True
        ).start()

    def _run_pull(self, pid: str, run: str) -> None:
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.state != TransferState.STARTED or record.mover != run:
                return
            address, destination = record.data_address or {}, dict(record.destination or {})
        if not isinstance(address.get("endpoint"), str):
            self.leases.release(pid, run)
            return  # no endpoint given (yet): nothing to pull
        props = data.properties(address)
        guard = self._mover_guard(pid, run)
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
            self._moved_failed(pid, exc, run)
            return
        self._finished(pid, result.size, result.sha256, run)

    def _run_push(self, pid: str, run: str) -> None:
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.state != TransferState.STARTED or record.mover != run:
                return
            if not record.data_address:
                self.leases.release(pid, run)
                return
            target, kind, asset_id = (
                dict(record.data_address),
                record.transfer_type,
                record.asset_id,
            )
            agreement_id, consumer = record.agreement_id, record.counterparty_did
        run_guard = self._mover_guard(pid, run)

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
            self._moved_failed(pid, exc, run)
            return
        self._finished(pid, size, sha256, run)

    def _finished(self, pid: str, size: int, sha256: str, run: str) -> None:
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is None or record.state != TransferState.STARTED or record.mover != run:
                # Suspended or terminated meanwhile, or another run took the movement over
                # (this one looked dead): never reported complete by this run.
                return
            record.size, record.sha256 = size, sha256
            self._send(session, record, self._completion(record))
            receipt = (
                self._receipt(record, size, "completed") if record.role == "consumer" else None
            )
        self._committed(session)
        if receipt is not None:
            self.usage.record(receipt)

    def _moved_failed(self, pid: str, error: BaseException, run: str) -> None:
        code, reason = data.describe(error)
        receipt = None
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is None:
                return
            if record.state == TransferState.STARTED and record.mover != run:
                return  # another run moves the data now: this one's failure says nothing
            if record.role == "consumer":
                outcome = "refused" if "agreement" in code else "failed"
                receipt = self._receipt(record, 0, outcome, code)
            if code in (data.TRANSFER_STOPPED, "dataplane.transfer_not_started"):
                # Stopped by a suspension or termination, which the state already says; if
                # the transfer is STARTED after all, the sweep moves it again.
                record.mover = record.lease_until = None
            elif record.state != TransferState.STARTED:
                record.error_code, record.error_reason = code, reason
            else:
                self._terminate(session, record, code, reason)
        self._committed(session)
        if receipt is not None:
            self.usage.record(receipt)

    # --- starting a run ----------------------------------------------------------------

    def _started(self, pid: str) -> None:
        """Our start message was delivered: a push begins, a consumer's resumed pull too."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None:
                return
            role, kind = record.role, record.transfer_type
        if (role == "provider") == (kind == data.PULL):
            return  # the other side moves the data
        run = self.leases.new_run()
        # Not claimed: no longer STARTED, or a run of an earlier delivery moves the data.
        if self.leases.claim(pid, run):
            self._spawn(self._run_push if role == "provider" else self._resume_pull, pid, run)

    def _restart(self, pid: str, run: str) -> None:
        """The sweep claimed ``pid`` (STARTED, nobody moving its data): move it from the start.

        A pull whose token has run out asks for a new one first; stale temporary files of a
        dead pull into a file are removed once they are surely stale.
        """
        self._stopped.discard(pid)  # the database says STARTED; a stale local stop must not win
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None:
                return
            role, address = record.role, dict(record.data_address or {})
            destination = dict(record.destination or {})
        if role == "provider":
            self._spawn(self._run_push, pid, run)
            return
        directory = self._file_directory(destination)
        if directory is not None:
            self.sweep.clean_later(directory)
        expired = token_expired(address, self._clock(), margin=self.leases.lease)
        self._spawn(self._resume_pull if expired else self._run_pull, pid, run)

    def _file_directory(self, destination: Mapping[str, Any]) -> Path | None:
        """The directory a pull into a ``File`` destination writes its temporary file in."""
        path = destination.get("path")
        if destination.get("type") != "File" or not isinstance(path, str):
            return None
        root = getattr(self.backends.for_address(destination), "root", None)
        if not isinstance(root, Path):
            return None
        try:
            return resolve_file_path(root, path).parent
        except DataAddressError:
            return None

    def _resume_pull(self, pid: str, run: str) -> None:
        """Consumer resuming a pull: a new token from the provider, then pull again."""
        try:
            self.request_token(pid)
        except HansaError as exc:
            self._moved_failed(pid, exc, run)
            return
        self._run_pull(pid, run)

    def request_token(self, pid: str) -> dict[str, Any]:
        """Consumer: ask the provider for a fresh data token for a STARTED pull."""
        with self._sessions() as session:
            record = session.get(Record, pid)
            if record is None or record.role != "consumer" or record.counterparty_pid is None:
                raise NotFound(f"there is no started transfer {pid!r}", code="transfer.not_found")
            url = f"{record.counterparty_address}/transfers/{record.counterparty_pid}/token"
            audience = record.counterparty_did
        token = self._sts.id_token(audience)
        try:
            answer = self._http.post_json(url, {}, headers={"Authorization": f"Bearer {token}"})
        except HttpStatusError as exc:
            code, reason = data.describe(exc)
            raise Conflict(
                f"the provider gives no new token: {reason}",
                code="transfer.token_refused",
                remote_code=code,
            ) from exc
        address = answer.json().get("dataAddress") if isinstance(answer.json(), dict) else None
        if not isinstance(address, dict):
            raise BadRequest("the provider answered no dataAddress", code="transfer.token_missing")
        with transaction(self._sessions) as session:
            record = self._lock(session, pid)
            if record is not None:
                record.data_address = address
        return address


__all__ = ["TransferMovement"]
