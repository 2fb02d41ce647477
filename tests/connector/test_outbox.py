"""The outbox: claims, leases, retries under one message id, refusals, wake-up (SQLite and PG)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.outbox import (
    DELIVERED,
    FAILED,
    PENDING,
    OutboundMessage,
    OutboxWorker,
    enqueue,
    is_permanent,
)
from hansa.connector.process_models import OutboxMessage
from hansa.db import transaction, utcnow
from hansa.errors import HansaError, UpstreamUnavailable
from hansa.fetch import FetchedResponse, GuardedClient, HttpStatusError
from hansa.settings import HttpSettings

BODY = {"@type": "ContractRequestMessage", "consumerPid": "urn:c"}


class Recorder:
    """A handler that records deliveries and fails as told."""

    def __init__(self, fail_with: HansaError | None = None) -> None:
        self.fail_with = fail_with
        self.delivered: list[OutboundMessage] = []
        self.refusals: list[tuple[OutboundMessage, HansaError]] = []
        self.event = threading.Event()

    def deliver(self, message: OutboundMessage) -> Any:
        self.delivered.append(message)
        self.event.set()
        if self.fail_with is not None:
            raise self.fail_with
        return {"ok": message.id}

    def refused(self, message: OutboundMessage, error: HansaError) -> None:
        self.refusals.append((message, error))


def _add(sessions: sessionmaker[Session], target: str = "https://peer.example/x") -> str:
    with transaction(sessions) as session:
        return enqueue(
            session,
            topic="test",
            process_id="urn:p",
            target_url=target,
            audience="did:web:peer.example",
            body=BODY,
            scopes=["s"],
        )


def _row(sessions: sessionmaker[Session], message_id: str) -> OutboxMessage:
    with sessions() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        return row


def _worker(
    sessions: sessionmaker[Session], handler: Recorder, clock: Any = utcnow, **kw: Any
) -> OutboxWorker:
    worker = OutboxWorker(sessions, clock=clock, **kw)
    worker.register("test", handler)
    return worker


def test_a_message_is_delivered_once_and_its_answer_kept(sessions: sessionmaker[Session]) -> None:
    handler = Recorder()
    message_id = _add(sessions)
    worker = _worker(sessions, handler)
    assert worker.run_pending() == 1
    assert worker.run_pending() == 0
    [sent] = handler.delivered
    assert (sent.id, sent.scopes, dict(sent.body)) == (message_id, ("s",), BODY)
    row = _row(sessions, message_id)
    assert row.status == DELIVERED
    assert row.attempts == 1
    assert row.response == {"ok": message_id}
    assert row.lease_owner is None


def test_a_leased_row_is_claimed_by_another_worker_only_after_the_lease_expires(
    sessions: sessionmaker[Session],
) -> None:
    message_id = _add(sessions)
    first = _worker(sessions, Recorder(), lease_seconds=30)
    [claimed] = first.claim()
    assert claimed.id == message_id
    assert _row(sessions, message_id).lease_owner == first.owner
    second = _worker(sessions, Recorder(), lease_seconds=30)
    assert second.claim() == []
    # The first worker's process died; a minute later its lease has expired.
    later = _worker(sessions, Recorder(), clock=lambda: utcnow() + timedelta(minutes=1))
    [again] = later.claim()
    assert again.id == message_id  # the same message id, the same body
    assert dict(again.body) == BODY


def test_a_failure_is_retried_with_backoff_under_the_same_id(
    sessions: sessionmaker[Session],
) -> None:
    handler = Recorder(UpstreamUnavailable("peer down", code="net.unreachable"))
    message_id = _add(sessions)
    worker = _worker(sessions, handler, backoff_seconds=10)
    assert worker.run_pending() == 1
    row = _row(sessions, message_id)
    assert row.status == PENDING
    assert row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith("net.unreachable")
    assert row.next_attempt_at > utcnow() + timedelta(seconds=5)
    assert worker.claim() == []  # not due yet
    handler.fail_with = None
    now = utcnow() + timedelta(seconds=11)
    later = _worker(sessions, handler, clock=lambda: now)
    assert later.run_pending() == 1
    assert [m.id for m in handler.delivered] == [message_id, message_id]
    assert _row(sessions, message_id).status == DELIVERED
    assert handler.refusals == []


def test_a_refusal_is_final_and_reported(sessions: sessionmaker[Session]) -> None:
    refused = HttpStatusError(FetchedResponse(400, {}, b"{}", "https://peer.example/x"))
    handler = Recorder(refused)
    message_id = _add(sessions)
    _worker(sessions, handler).run_pending()
    assert _row(sessions, message_id).status == FAILED
    [(message, error)] = handler.refusals
    assert message.id == message_id
    assert error is refused


def test_retries_run_out(sessions: sessionmaker[Session]) -> None:
    handler = Recorder(UpstreamUnavailable("peer down", code="net.unreachable"))
    message_id = _add(sessions)
    moment = [utcnow()]
    worker = _worker(sessions, handler, clock=lambda: moment[0], max_attempts=3)
    for _ in range(3):
        worker.run_pending()
        moment[0] += timedelta(minutes=5)
    assert _row(sessions, message_id).status == FAILED
    assert len(handler.delivered) == 3
    assert len(handler.refusals) == 1


def test_the_guard_refuses_a_private_target_for_good(sessions: sessionmaker[Session]) -> None:
    client = GuardedClient(HttpSettings())

    class Poster(Recorder):
        def deliver(self, message: OutboundMessage) -> Any:
            return client.post_json(message.target_url, message.body).json()

    handler = Poster()
    try:
        message_id = _add(sessions, "https://10.1.2.3/callback/negotiations/x/agreement")
        _worker(sessions, handler).run_pending()
    finally:
        client.close()
    assert _row(sessions, message_id).status == FAILED
    [(_, error)] = handler.refusals
    assert is_permanent(error)
    assert error.code.startswith("net.")


def test_a_commit_wakes_the_background_worker(sessions: sessionmaker[Session]) -> None:
    handler = Recorder()
    # A sweep far in the future: only the wake-up can deliver the message in time.
    worker = _worker(sessions, handler, sweep_seconds=3600)
    worker.start()
    try:
        assert worker.running
        # Let the loop reach its wait first, so the wake-up is what ends it.
        handler.event.wait(0.2)
        message_id = _add(sessions)
        worker.wake()
        assert handler.event.wait(30)
    finally:
        worker.stop()
    assert not worker.running
    assert handler.delivered[0].id == message_id


def test_unknown_topics_are_left_alone(sessions: sessionmaker[Session]) -> None:
    message_id = _add(sessions)
    worker = OutboxWorker(sessions)
    worker.register("transfer", Recorder())
    assert worker.claim() == []
    assert _row(sessions, message_id).status == PENDING


def test_a_message_leased_at_birth_is_handed_over_after_the_commit(
    sessions: sessionmaker[Session],
) -> None:
    handler = Recorder()
    worker = _worker(sessions, handler, sweep_seconds=3600)
    worker.start()
    try:
        with transaction(sessions) as session:
            message_id = worker.enqueue(
                session,
                topic="test",
                process_id="urn:p",
                target_url="https://peer.example/x",
                audience="did:web:peer.example",
                body=BODY,
            )
            assert handler.delivered == []  # nothing leaves before the commit
        worker.dispatch(session)
        assert handler.event.wait(30)
    finally:
        worker.stop()
    assert handler.delivered[0].id == message_id
    _until_delivered(sessions, message_id)


def _until_delivered(sessions: sessionmaker[Session], message_id: str) -> None:
    # The delivery thread records the outcome right after the handler returns.
    for _ in range(600):
        if _row(sessions, message_id).status == DELIVERED:
            return
        threading.Event().wait(0.05)
    raise AssertionError("the delivery was not recorded")


def test_a_message_leased_at_birth_survives_its_worker(sessions: sessionmaker[Session]) -> None:
    stopped = _worker(sessions, Recorder())  # never started: dispatch hands nothing over
    with transaction(sessions) as session:
        message_id = stopped.enqueue(
            session,
            topic="test",
            process_id="urn:p",
            target_url="https://peer.example/x",
            audience="did:web:peer.example",
            body=BODY,
        )
    stopped.dispatch(session)
    assert _row(sessions, message_id).lease_owner == stopped.owner
    assert _worker(sessions, Recorder()).claim() == []  # leased to the other worker
    handler = Recorder()
    later = _worker(sessions, handler, clock=lambda: utcnow() + timedelta(minutes=1))
    assert later.run_pending() == 1  # its lease expired: anyone may send it
    assert _row(sessions, message_id).status == DELIVERED
    # Its own worker, once running again, would have sent it too (its own lease).
    with transaction(sessions) as session:
        again = stopped.enqueue(
            session,
            topic="test",
            process_id="urn:p",
            target_url="https://peer.example/x",
            audience="did:web:peer.example",
            body=BODY,
        )
    assert [m.id for m in stopped.claim()] == [again]


def test_a_running_worker_records_deliveries_a_moment_later_and_never_resends_them(
    sessions: sessionmaker[Session],
) -> None:
    # The record waits ack_delay_seconds (so that it does not hold up the recipient's next
    # message); meanwhile the row is neither claimable nor sent again, and stop() writes
    # whatever is still unrecorded.
    handler = Recorder()
    worker = _worker(sessions, handler, ack_delay_seconds=60.0, sweep_seconds=0.05)
    worker.start()
    try:
        message_id = _add(sessions)
        worker.wake()
        assert handler.event.wait(30)
        for _ in range(10):  # several sweeps pass: the row stays ours and in flight
            worker.wake()
            threading.Event().wait(0.05)
        assert _row(sessions, message_id).status == PENDING
        assert worker.claim() == []
        assert len(handler.delivered) == 1
    finally:
        worker.stop()
    row = _row(sessions, message_id)
    assert (row.status, row.response, row.lease_owner) == (DELIVERED, {"ok": message_id}, None)
    assert len(handler.delivered) == 1


def test_several_deliveries_recorded_later_all_end_delivered(
    sessions: sessionmaker[Session],
) -> None:
    handler = Recorder()
    worker = _worker(sessions, handler, ack_delay_seconds=0.2)
    worker.start()
    try:
        ids = [_add(sessions) for _ in range(3)]
        worker.wake()
        for message_id in ids:
            _until_delivered(sessions, message_id)
    finally:
        worker.stop()
    assert sorted(m.id for m in handler.delivered) == sorted(ids)
