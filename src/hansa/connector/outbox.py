"""The transactional outbox: protocol messages written with the state change that causes them.

A service adds a message with :func:`enqueue` inside the transaction that changes a
process's state, commits, then calls :meth:`OutboxWorker.wake`. The worker (one
background thread per process, a few delivery threads) claims due rows and hands each to
the handler registered for its ``topic``, which sends it (with a DCP token) and records
the answer. Nothing polls in the happy path: a commit wakes the worker at once; a slow
sweep (``sweep_seconds``) picks up retries that fell due and rows whose worker died.

Claiming, so that many processes on one database never send a row twice at the same time:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` of due rows, then the lease
  (``lease_owner``, ``lease_expires_at``) is written in the same transaction.
- SQLite (one writer at a time): a conditional ``UPDATE ... WHERE id = ? AND (lease is
  free or expired)`` per candidate; the row is ours when the update changed it.

A lease outlives a delivery attempt (``lease_seconds`` > the HTTP timeout), so a live
worker never loses its row; when its process dies, the row is claimed again after the
lease expires and sent again under the same message id with the same body, which the
receiver's idempotency turns into one effect. Failures retry with exponential backoff;
a refusal (HTTP 4xx but 408/429, or a target the outbound guard refuses) is final and
the handler's ``refused`` decides what it means for the process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.process_models import OutboxMessage
from hansa.db import transaction, utcnow
from hansa.errors import BadRequest, Forbidden, HansaError
from hansa.fetch import HttpStatusError

log = logging.getLogger("hansa.connector.outbox")

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
_RETRYABLE_STATUS = frozenset({408, 425, 429})
_PENDING_KEY = "hansa.outbox.pending"
# A message is written, and each attempt recorded, on the table directly: the ORM's paths
# cost twice the statement, on every message, while the next one may be arriving.
_TABLE = cast(Table, OutboxMessage.__table__)
_INSERT = insert(_TABLE)


@dataclass(frozen=True)
class OutboundMessage:
    """A claimed outbox row, as its handler sees it."""

    id: str
    topic: str
    process_id: str
    message_type: str
    target_url: str
    audience: str
    scopes: tuple[str, ...]
    body: Mapping[str, Any]
    attempts: int


class DeliveryHandler(Protocol):
    """Sends the messages of one topic and applies what the recipient answered."""

    def deliver(self, message: OutboundMessage) -> Any:
        """Send ``message``; return the answer to keep, or raise a ``HansaError``."""
        ...

    def refused(self, message: OutboundMessage, error: HansaError) -> None:
        """The recipient refused for good (or retries ran out): update the process."""
        ...


def enqueue(
    session: Session,
    *,
    topic: str,
    process_id: str,
    target_url: str,
    audience: str,
    body: Mapping[str, Any],
    scopes: Sequence[str] = (),
    lease_owner: str | None = None,
    lease_expires_at: datetime | None = None,
) -> str:
    """Add a message to the outbox in ``session``'s transaction; returns its stable id.

    Inserted at once, as one prepared statement rather than an object for the ORM to flush.
    """
    message_id = uuid.uuid4().hex
    now = utcnow()
    session.execute(
        _INSERT,
        {
            "id": message_id,
            "topic": topic,
            "process_id": process_id,
            "message_type": str(body.get("@type", "")),
            "target_url": target_url,
            "audience": audience,
            "scopes": list(scopes),
            "body": dict(body),
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "lease_owner": lease_owner,
            "lease_expires_at": lease_expires_at,
            "created_at": now,
        },
    )
    return message_id


def is_permanent(error: HansaError) -> bool:
    """Whether retrying cannot help: the recipient refused, or the target is not allowed."""
    if isinstance(error, HttpStatusError):
        return 400 <= error.upstream_status < 500 and error.upstream_status not in _RETRYABLE_STATUS
    # The guard's refusals (plain http, private addresses, bad URLs) stay refusals.
    return isinstance(error, BadRequest | Forbidden)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OutboxWorker:
    """Delivers outbox rows in a background thread; see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        sweep_seconds: float = 5.0,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 60.0,
        max_attempts: int = 10,
        batch: int = 16,
        threads: int = 4,
        ack_delay_seconds: float = 0.05,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.owner = owner or default_owner()
        self.lease = timedelta(seconds=lease_seconds)
        self.sweep_seconds = sweep_seconds
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_attempts = max_attempts
        self.batch = batch
        self._threads = threads
        self._clock = clock
        self._handlers: dict[str, DeliveryHandler] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        # Answers received but not yet recorded (see _record_later), and their writer.
        self.ack_delay_seconds = ack_delay_seconds
        self._acks: list[tuple[OutboundMessage, Any]] = []
        self._unrecorded: set[str] = set()
        self._acks_ready = threading.Condition(self._lock)
        self._ack_thread: threading.Thread | None = None

    def register(self, topic: str, handler: DeliveryHandler) -> None:
        """Deliver messages of ``topic`` with ``handler`` (one per process kind)."""
        self._handlers[topic] = handler

    # --- writing and handing over --------------------------------------------------------

    def enqueue(
        self,
        session: Session,
        *,
        topic: str,
        process_id: str,
        target_url: str,
        audience: str,
        body: Mapping[str, Any],
        scopes: Sequence[str] = (),
    ) -> str:
        """:func:`enqueue`, leased to this worker from the start; :meth:`dispatch` sends it.

        The message needs no claim (no query, no wait for the loop): after the commit it
        goes straight to a delivery thread. Should this process die first, the lease
        expires and any worker claims the row as usual.
        """
        message_id = enqueue(
            session,
            topic=topic,
            process_id=process_id,
            target_url=target_url,
            audience=audience,
            body=body,
            scopes=scopes,
            lease_owner=self.owner,
            lease_expires_at=self._clock() + self.lease,
        )
        view = OutboundMessage(
            id=message_id,
            topic=topic,
            process_id=process_id,
            message_type=str(body.get("@type", "")),
            target_url=target_url,
            audience=audience,
            scopes=tuple(scopes),
            body=dict(body),
            attempts=0,
        )
        session.info.setdefault(_PENDING_KEY, []).append(view)
        return message_id

    def dispatch(self, session: Session) -> None:
        """After ``session`` committed: deliver what :meth:`enqueue` wrote in it, now."""
        messages: list[OutboundMessage] = session.info.pop(_PENDING_KEY, [])
        if not messages:
            return
        with self._lock:
            pool = self._pool
            if pool is not None:
                self._in_flight.update(m.id for m in messages)
        if pool is None:
            return  # not running: run_pending or a later start claims them (our lease)
        for message in messages:
            pool.submit(self._deliver_safely, message)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread (idempotent); rows left by a dead process are swept."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="hansa-outbox")
        self._ack_thread = threading.Thread(
            target=self._write_acks, name="hansa-outbox-acks", daemon=True
        )
        self._ack_thread.start()
        self._thread = threading.Thread(target=self._run, name="hansa-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, finish deliveries in flight, release nothing (leases expire)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._ack_thread is not None:
            with self._acks_ready:
                self._acks_ready.notify()
            self._ack_thread.join(timeout)
            self._flush_acks()  # what the last deliveries answered
        self._thread = None
        self._pool = None
        self._ack_thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def wake(self) -> None:
        """Something was committed to the outbox: look now, not at the next sweep."""
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                claimed = self.claim()
            except Exception:  # a database hiccup must not kill the worker
                log.exception("claiming outbox rows failed")
                claimed = []
            for message in claimed:
                assert self._pool is not None
                with self._lock:
                    self._in_flight.add(message.id)
                self._pool.submit(self._deliver_safely, message)
            if len(claimed) < self.batch:
                self._wake.wait(self.sweep_seconds)

    def _deliver_safely(self, message: OutboundMessage) -> None:
        try:
            self.deliver(message)
        except Exception:
            log.exception("delivering outbox message %s failed", message.id)
        finally:
            with self._lock:
                if message.id not in self._unrecorded:
                    self._in_flight.discard(message.id)

    def run_pending(self) -> int:
        """Claim and deliver every due row in this thread (tests, CLI); how many were sent."""
        count = 0
        while claimed := self.claim():
            for message in claimed:
                self.deliver(message)
                count += 1
        return count

    # --- claiming ----------------------------------------------------------------------

    def claim(self) -> list[OutboundMessage]:
        """Lease up to ``batch`` due rows to this worker."""
        now = self._clock()
        expires = now + self.lease
        free = or_(
            OutboxMessage.lease_expires_at.is_(None),
            OutboxMessage.lease_expires_at < now,
            # Ours but never handed over (written while the worker was not running).
            OutboxMessage.lease_owner == self.owner,
        )
        due = and_(
            OutboxMessage.status == PENDING,
            OutboxMessage.next_attempt_at <= now,
            free,
            OutboxMessage.topic.in_(list(self._handlers)),
        )
        with self._lock:
            busy = set(self._in_flight)
        with transaction(self._sessions) as session:
            if session.get_bind().dialect.name == "postgresql":
                rows = list(
                    session.scalars(
                        select(OutboxMessage)
                        .where(due)
                        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
                        .limit(self.batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                for row in rows:
                    row.lease_owner, row.lease_expires_at = self.owner, expires
                return [_view(row) for row in rows if row.id not in busy]
            # SQLite: one writer at a time, so a conditional update is an atomic claim.
            candidates = list(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(due)
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
                    .limit(self.batch)
                )
            )
            claimed = []
            for message_id in candidates:
                result = session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message_id, due)
                    .values(lease_owner=self.owner, lease_expires_at=expires)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(message_id)
            if not claimed:
                return []
            rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claimed))))
            return [_view(row) for row in rows if row.id not in busy]

    # --- delivering --------------------------------------------------------------------

    def deliver(self, message: OutboundMessage) -> None:
        """Send one claimed message and record the outcome (delivered, retry, or failed)."""
        handler = self._handlers[message.topic]
        try:
            answer = handler.deliver(message)
        except HansaError as exc:
            self._failed(message, handler, exc)
            return
        except Exception as exc:  # a bug in a handler must not leave the row leased forever
            log.exception("outbox handler for %s raised", message.topic)
            self._failed(message, handler, HansaError(f"{type(exc).__name__}: {exc}"))
            return
        if self._ack_thread is not None and self.ack_delay_seconds > 0:
            self._record_later(message, answer)
        else:
            self._record_delivered([(message, answer)])

    def _record_delivered(self, delivered: Sequence[tuple[OutboundMessage, Any]]) -> None:
        """Mark messages delivered (one transaction), each answer applied by its handler."""
        with transaction(self._sessions) as session:
            for message, answer in delivered:
                session.execute(
                    update(_TABLE)
                    .where(_TABLE.c.id == message.id, _TABLE.c.lease_owner == self.owner)
                    .values(
                        status=DELIVERED,
                        attempts=message.attempts + 1,
                        delivered_at=self._clock(),
                        lease_owner=None,
                        lease_expires_at=None,
                        response=answer if isinstance(answer, dict | list) else None,
                    )
                )
                # A handler may apply the answer to its process in the same transaction.
                apply_answer = getattr(self._handlers[message.topic], "apply_answer", None)
                if apply_answer is not None:
                    apply_answer(session, message, answer)

    def _record_later(self, message: OutboundMessage, answer: Any) -> None:
        """Record a delivery ``ack_delay_seconds`` later, with those that follow it.

        The answer to a message arrives together with the recipient's next message (it
        sends that before it answers), and recording it at once made that message wait
        for the database: 0.4-0.9 ms of every hop of a negotiation. Nothing waits for the
        record (the recipient's own messages carry its pid too), and until it is written
        the row stays leased to this worker and in flight, so it is not sent again; if
        the process dies first, the lease expires and the recipient's idempotency turns
        the resent message into its earlier answer.
        """
        with self._acks_ready:
            self._acks.append((message, answer))
            self._unrecorded.add(message.id)
            self._acks_ready.notify()

    def _write_acks(self) -> None:
        while True:
            with self._acks_ready:
                while not self._acks and not self._stopping.is_set():
                    self._acks_ready.wait()
                if not self._acks:
                    return  # stopping, and everything is written
            self._stopping.wait(self.ack_delay_seconds)
            self._flush_acks()

    def _flush_acks(self) -> None:
        with self._lock:
            batch, self._acks = self._acks, []
        if not batch:
            return
        try:
            self._record_delivered(batch)
        except Exception:  # the rows stay leased: after the lease they are sent again
            log.exception("recording %d outbox deliveries failed", len(batch))
        finally:
            with self._lock:
                for message, _ in batch:
                    self._unrecorded.discard(message.id)
                    self._in_flight.discard(message.id)

    def _failed(
        self, message: OutboundMessage, handler: DeliveryHandler, error: HansaError
    ) -> None:
        attempts = message.attempts + 1
        final = is_permanent(error) or attempts >= self.max_attempts
        delay = min(self.backoff_seconds * 2 ** (attempts - 1), self.max_backoff_seconds)
        log.info(
            "outbox %s (%s to %s) attempt %d failed: %s%s",
            message.id,
            message.message_type,
            message.target_url,
            attempts,
            error.code,
            " (final)" if final else f", retry in {delay:.1f}s",
        )
        with transaction(self._sessions) as session:
            session.execute(
                update(_TABLE)
                .where(_TABLE.c.id == message.id, _TABLE.c.lease_owner == self.owner)
                .values(
                    status=FAILED if final else PENDING,
                    attempts=attempts,
                    next_attempt_at=self._clock() + timedelta(seconds=delay),
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=f"{error.code}: {error.detail}"[:2000],
                )
            )
        if final:
            try:
                handler.refused(message, error)
            except Exception:
                log.exception("outbox refusal handler for %s raised", message.topic)
        else:
            # Wake the loop when the retry falls due if that is sooner than the sweep.
            if delay < self.sweep_seconds:
                timer = threading.Timer(delay, self._wake.set)
                timer.daemon = True
                timer.start()


def _view(row: OutboxMessage) -> OutboundMessage:
    return OutboundMessage(
        id=row.id,
        topic=row.topic,
        process_id=row.process_id,
        message_type=row.message_type,
        target_url=row.target_url,
        audience=row.audience,
        scopes=tuple(row.scopes or ()),
        body=row.body,
        attempts=row.attempts,
    )


__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "DeliveryHandler",
    "OutboundMessage",
    "OutboxWorker",
    "enqueue",
    "is_permanent",
]
