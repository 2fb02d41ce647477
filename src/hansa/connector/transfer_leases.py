"""Who moves a STARTED transfer's data: a lease on the transfer row, and the sweep after a crash.

A transfer's data moves in a thread of the process that started it (the consumer's pull,
the provider's push). That run holds a claim written on the transfer row: ``mover`` (this
process and this attempt) and ``lease_until``. The run renews the lease from its per-chunk
guard (at most every few seconds); when a renewal finds the row no longer its own (another
run took it over, or the transfer left STARTED, possibly in another process), the run stops
at that chunk and reports nothing. Leaving STARTED clears the claim.

When a process dies mid-transfer its lease runs out. :class:`MovementSweep` (one thread
per node process) wakes at start-up, at the earliest lease expiry it knows of and at least
every lease period, and claims the STARTED transfers nobody moves, exactly as the outbox
claims its rows (see :mod:`hansa.connector.outbox`):

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` of due rows, the claim written in the
  same transaction;
- SQLite (one writer at a time): a conditional ``UPDATE ... WHERE id = ? AND <due>`` per
  candidate; the row is ours when the update changed it.

A transfer is due when it is STARTED, moved by this side (a consumer's HttpData-PULL, a
provider's push), its lease is missing or expired, and no TransferStartMessage of it is
still waiting in the outbox (a push or a resumed pull begins only once the counterparty has
the start; the delivery claims it then). The sweep's claims start over: a pull downloads
again (the file backend renames into place only a complete file), a push sends again.
Nothing waits for the sweep in the happy path: the process that takes the start claims the
movement in that moment and moves the data at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.outbox import PENDING, default_owner
from hansa.connector.process_models import OutboxMessage
from hansa.connector.transfer_data import EXPIRES_PROPERTY, PULL, properties
from hansa.connector.transfer_models import TransferProcessRecord as Record
from hansa.connector.transfer_states import TRANSFER_START, TransferState
from hansa.db import transaction, utcnow

log = logging.getLogger("hansa.connector.transfers")

STARTED = TransferState.STARTED.value
BATCH = 32
STALE_PART_GLOB = ".hansa-*.part"
"""The file backend's temporary files (``tempfile.mkstemp(prefix=".hansa-", suffix=".part")``)."""


def _moved_here() -> ColumnElement[bool]:
    """Rows whose data this side moves: a consumer's pull, a provider's push."""
    return or_(
        and_(Record.role == "consumer", Record.transfer_type == PULL),
        and_(Record.role == "provider", Record.transfer_type != PULL),
    )


def _start_pending() -> ColumnElement[bool]:
    return exists().where(
        OutboxMessage.process_id == Record.id,
        OutboxMessage.message_type == TRANSFER_START,
        OutboxMessage.status == PENDING,
    )


class MovementLeases:
    """The claims on transfer rows (see the module docstring); every write is one statement."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        lease_seconds: float = 30.0,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.owner = owner or default_owner()
        self.lease = timedelta(seconds=lease_seconds)
        self.renew_every = min(lease_seconds / 3, 5.0)
        """Seconds between renewals by a running mover: well inside the lease."""
        self._clock = clock

    def new_run(self) -> str:
        """A name for one attempt at moving one transfer's data, by this process."""
        return f"{self.owner}/{uuid.uuid4().hex[:8]}"

    def hold(self, record: Record, run: str) -> None:
        """Claim ``record`` (locked in the caller's transaction) for ``run``."""
        record.mover, record.lease_until = run, self._clock() + self.lease

    def _free(self, now: datetime) -> ColumnElement[bool]:
        return or_(Record.lease_until.is_(None), Record.lease_until < now)

    def claim(self, pid: str, run: str) -> bool:
        """Claim STARTED transfer ``pid`` for ``run`` unless another run holds a live lease."""
        now = self._clock()
        with transaction(self._sessions) as session:
            result = session.execute(
                update(Record)
                .where(Record.id == pid, Record.state == STARTED, self._free(now))
                .values(mover=run, lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def claim_due(self, limit: int = BATCH) -> list[tuple[str, str]]:
        """Claim STARTED transfers that nobody moves (up to ``limit`` on PostgreSQL).

        ``(pid, run)`` each; the transfers of one pass share the run's name, which is
        still unique per transfer and attempt.
        """
        now = self._clock()
        run = self.new_run()
        due = and_(Record.state == STARTED, _moved_here(), self._free(now), ~_start_pending())
        claim = (
            update(Record)
            .values(mover=run, lease_until=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        with transaction(self._sessions) as session:
            if session.get_bind().dialect.name == "postgresql":
                pids = list(
                    session.scalars(
                        select(Record.id)
                        .where(due)
                        .order_by(Record.updated_at)
                        .limit(limit)
                        .with_for_update(skip_locked=True, of=Record)
                    )
                )
                if pids:
                    session.execute(claim.where(Record.id.in_(pids)))
                return [(pid, run) for pid in pids]
            # SQLite (one writer at a time): one conditional update is an atomic claim. It
            # takes the write lock first, so no read snapshot can be stale when it writes.
            session.execute(claim.where(due))
            pids = list(session.scalars(select(Record.id).where(Record.mover == run)))
            return [(pid, run) for pid in pids]

    def renew(self, pid: str, run: str) -> bool:
        """Extend ``run``'s lease; False when the transfer is no longer STARTED and ``run``'s."""
        with transaction(self._sessions) as session:
            result = session.execute(
                update(Record)
                .where(Record.id == pid, Record.mover == run, Record.state == STARTED)
                .values(lease_until=self._clock() + self.lease)
                .execution_options(synchronize_session=False)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release(self, pid: str, run: str) -> None:
        """Give up ``run``'s claim (if it still has it): the sweep may move the data again."""
        with transaction(self._sessions) as session:
            session.execute(
                update(Record)
                .where(Record.id == pid, Record.mover == run)
                .values(mover=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )

    def next_expiry(self) -> datetime | None:
        """When the earliest live lease on a STARTED transfer moved here runs out (or None).

        Expired leases do not count: what they guard is claimed now, or (its start message
        still in the outbox) when the delivery claims it, not at a sooner sweep.
        """
        with self._sessions() as session:
            found: datetime | None = session.scalar(
                select(func.min(Record.lease_until)).where(
                    Record.state == STARTED, _moved_here(), Record.lease_until > self._clock()
                )
            )
        return found


def token_expired(address: Mapping[str, Any], now: datetime, margin: timedelta) -> bool:
    """Whether a pull address's data token has run out (or will within ``margin``).

    An address without a readable ``expiresAt`` (another connector's) counts as valid: the
    provider's refusal then says what is wrong.
    """
    expires = properties(address).get(EXPIRES_PROPERTY)
    if not expires:
        return False
    try:
        at = datetime.fromisoformat(expires)
    except ValueError:
        return False
    if at.tzinfo is None:
        return False
    return at <= now + margin


def remove_stale_parts(directory: Path, older_than_seconds: float) -> int:
    """Remove the file backend's temporary files in ``directory`` untouched for that long.

    Safe for a directory shared by running pulls: a live mover writes its temporary file
    with every chunk and renews its lease with the chunks, so a file untouched for longer
    than a lease belongs to no live mover (a stalled one lost its lease and keeps nothing).
    """
    removed = 0
    cutoff = time.time() - older_than_seconds
    with contextlib.suppress(OSError):
        for part in directory.glob(STALE_PART_GLOB):
            try:
                info = part.lstat()
                if info.st_mtime < cutoff and part.is_file() and not part.is_symlink():
                    os.unlink(part)
                    removed += 1
            except OSError:
                continue
    if removed:
        log.info("removed %d stale partial download(s) in %s", removed, directory)
    return removed


class MovementSweep:
    """Restarts the data movement of STARTED transfers that nobody moves (one thread)."""

    def __init__(
        self,
        leases: MovementLeases,
        restart: Callable[[str, str], None],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``restart(pid, run)`` moves a claimed transfer again (without blocking)."""
        self.leases = leases
        self._restart = restart
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Directories of restarted pulls, cleaned of stale temporary files from a time on.
        self._cleanups: dict[Path, float] = {}

    @property
    def period(self) -> float:
        return self.leases.lease.total_seconds()

    def start(self) -> None:
        """Start the thread (idempotent); its first sweep runs at once."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="hansa-transfer-sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sweeping; running movements go on (their leases expire with the process)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def wake(self) -> None:
        """Sweep now, not at the next lease expiry or period."""
        self._wake.set()

    def clean_later(self, directory: Path) -> None:
        """Remove stale temporary files of a dead mover in ``directory`` once surely stale.

        A dead mover's last write can be younger than a lease when its transfer is claimed
        again, so the directory is cleaned a lease (and a renewal) after that.
        """
        with self._lock:
            self._cleanups.setdefault(
                directory, time.monotonic() + self.period + self.leases.renew_every
            )
        self._wake.set()

    def sweep(self) -> list[str]:
        """Claim and restart what is due now; the pids restarted."""
        restarted = []
        while True:
            claimed = self.leases.claim_due()
            for pid, run in claimed:
                log.info("transfer %s: nobody moves its data, moving it again", pid)
                try:
                    self._restart(pid, run)
                except Exception:
                    log.exception("restarting transfer %s failed", pid)
                    self.leases.release(pid, run)
                    continue
                restarted.append(pid)
            if len(claimed) < BATCH:
                return restarted

    def _clean_due(self) -> float | None:
        """Clean the directories whose time came; seconds until the next one (None: none)."""
        now = time.monotonic()
        with self._lock:
            due = [d for d, at in self._cleanups.items() if at <= now]
            for directory in due:
                del self._cleanups[directory]
            upcoming = min(self._cleanups.values(), default=None)
        for directory in due:
            remove_stale_parts(directory, self.period + self.leases.renew_every)
        return None if upcoming is None else max(upcoming - now, 0.0)

    def _next_wait(self) -> float:
        wait = self.period
        expiry = self.leases.next_expiry()
        if expiry is not None:
            # Just after the earliest lease runs out: a dead mover's transfer moves again soon.
            wait = min(wait, (expiry - self._clock()).total_seconds() + 0.05)
        return max(wait, 0.05)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            wait = self.period
            try:
                self.sweep()
                wait = self._next_wait()
            except Exception:  # a database hiccup must not kill the sweep
                log.exception("sweeping transfers failed")
            try:
                cleanup = self._clean_due()
            except Exception:
                log.exception("removing stale partial downloads failed")
                cleanup = None
            if cleanup is not None:
                wait = min(wait, max(cleanup, 0.05))
            self._wake.wait(wait)


__all__ = ["MovementLeases", "MovementSweep", "remove_stale_parts", "token_expired"]
