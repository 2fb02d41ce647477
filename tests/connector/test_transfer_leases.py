"""Claims on a STARTED transfer's data movement, on SQLite and PostgreSQL (no nodes, no HTTP)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.outbox import enqueue
from hansa.connector.transfer_data import EXPIRES_PROPERTY
from hansa.connector.transfer_leases import (
    MovementLeases,
    MovementSweep,
    remove_stale_parts,
    token_expired,
)
from hansa.connector.transfer_models import TransferProcessRecord as Record
from hansa.db import transaction, utcnow


def _transfer(
    sessions: sessionmaker[Session],
    *,
    state: str = "STARTED",
    role: str = "consumer",
    kind: str = "HttpData-PULL",
    mover: str | None = None,
    lease_until: datetime | None = None,
) -> str:
    pid = f"urn:uuid:{uuid.uuid4()}"
    with transaction(sessions) as session:
        session.add(
            Record(
                id=pid,
                role=role,
                state=state,
                counterparty_did="did:web:other.example",
                counterparty_pid=f"urn:uuid:{uuid.uuid4()}",
                counterparty_address="https://other.example/dsp",
                agreement_id="urn:agreement:1",
                asset_id="urn:asset:1",
                transfer_type=kind,
                history=[],
                mover=mover,
                lease_until=lease_until,
            )
        )
    return pid


def _row(sessions: sessionmaker[Session], pid: str) -> Record:
    with sessions() as session:
        record = session.get(Record, pid)
        assert record is not None
        return record


def test_the_sweep_claims_only_started_transfers_nobody_moves(
    sessions: sessionmaker[Session],
) -> None:
    leases = MovementLeases(sessions, lease_seconds=30)
    past, future = utcnow() - timedelta(seconds=1), utcnow() + timedelta(seconds=30)
    never_leased = _transfer(sessions)
    expired = _transfer(sessions, mover="dead:1:x/1", lease_until=past)
    push = _transfer(sessions, role="provider", kind="AmazonS3-PUSH", lease_until=past)
    not_claimed = [
        _transfer(sessions, mover="alive:2:y/1", lease_until=future),
        _transfer(sessions, state="SUSPENDED", mover="dead:1:x/2", lease_until=past),
        _transfer(sessions, state="SUSPENDED"),
        _transfer(sessions, state="TERMINATED"),
        _transfer(sessions, state="COMPLETED"),
        _transfer(sessions, state="REQUESTED"),
        _transfer(sessions, role="provider", kind="HttpData-PULL"),  # the consumer pulls
        _transfer(sessions, role="consumer", kind="HttpData-PUSH"),  # the provider pushes
    ]
    # A resumed pull or a push waits for its start message: its delivery claims it.
    waiting = _transfer(sessions, role="provider", kind="HttpData-PUSH")
    with transaction(sessions) as session:
        enqueue(
            session,
            topic="transfer",
            process_id=waiting,
            target_url="https://other.example/dsp/transfers/x/start",
            audience="did:web:other.example",
            body={"@type": "TransferStartMessage"},
        )
    claimed = dict(leases.claim_due())
    assert set(claimed) == {never_leased, expired, push}
    for pid, run in claimed.items():
        row = _row(sessions, pid)
        assert row.mover == run
        assert run.startswith(leases.owner + "/")
        assert row.lease_until is not None
        assert row.lease_until > utcnow()
    for pid in [*not_claimed, waiting]:
        assert _row(sessions, pid).mover in (None, "alive:2:y/1", "dead:1:x/2")
    # Claimed once: a second sweep (this process or another) finds nothing.
    assert MovementLeases(sessions, lease_seconds=30).claim_due() == []


def test_concurrent_sweeps_claim_each_transfer_once(sessions: sessionmaker[Session]) -> None:
    pids = {_transfer(sessions) for _ in range(12)}
    sweepers = [MovementLeases(sessions, lease_seconds=30) for _ in range(4)]
    results: list[list[tuple[str, str]]] = [[] for _ in sweepers]
    barrier = threading.Barrier(len(sweepers))

    def sweep(index: int) -> None:
        barrier.wait()
        results[index] = sweepers[index].claim_due(limit=5)
        results[index] += sweepers[index].claim_due(limit=5)

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(len(sweepers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [pid for result in results for pid, _ in result]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) <= pids
    owners = {pid: run for result in results for pid, run in result}
    for pid, run in owners.items():
        assert _row(sessions, pid).mover == run
    # What the two rounds left is claimed by the next sweep.
    rest = {pid for pid, _ in MovementLeases(sessions).claim_due()}
    assert rest | set(claimed) == pids


def test_a_run_keeps_its_lease_until_another_takes_the_transfer(
    sessions: sessionmaker[Session],
) -> None:
    clock = [utcnow()]
    first = MovementLeases(sessions, lease_seconds=10, clock=lambda: clock[0])
    second = MovementLeases(sessions, lease_seconds=10, clock=lambda: clock[0])
    pid = _transfer(sessions)
    run = first.new_run()
    assert first.claim(pid, run)
    assert not second.claim(pid, second.new_run())  # a live lease is not taken
    clock[0] += timedelta(seconds=8)
    assert first.renew(pid, run)  # renewed: alive for another 10 s
    clock[0] += timedelta(seconds=8)
    assert second.claim_due() == []
    clock[0] += timedelta(seconds=3)  # the first run stopped renewing: its lease ran out
    [(taken, other)] = second.claim_due()
    assert taken == pid
    assert not first.renew(pid, run)  # the first run learns it lost the transfer
    first.release(pid, run)  # and its release leaves the new claim alone
    assert _row(sessions, pid).mover == other
    second.release(pid, other)
    assert _row(sessions, pid).mover is None
    assert [p for p, _ in first.claim_due()] == [pid]


def test_renewal_fails_once_the_transfer_left_started(sessions: sessionmaker[Session]) -> None:
    leases = MovementLeases(sessions, lease_seconds=30)
    pid = _transfer(sessions)
    run = leases.new_run()
    assert leases.claim(pid, run)
    with transaction(sessions) as session:
        record = session.get(Record, pid)
        assert record is not None
        record.state = "SUSPENDED"  # say, by another process of the node
    assert not leases.renew(pid, run)
    assert not leases.claim(pid, leases.new_run())


def test_the_sweep_wakes_at_the_earliest_lease_expiry(sessions: sessionmaker[Session]) -> None:
    leases = MovementLeases(sessions, lease_seconds=30)
    assert leases.next_expiry() is None
    soon = utcnow() + timedelta(seconds=2)
    _transfer(sessions, mover="a/1", lease_until=soon)
    _transfer(sessions, mover="b/1", lease_until=soon + timedelta(seconds=5))
    _transfer(sessions, state="SUSPENDED", mover="c/1", lease_until=soon - timedelta(seconds=1))
    _transfer(sessions, mover="d/1", lease_until=utcnow() - timedelta(seconds=1))  # ran out
    expiry = leases.next_expiry()
    assert expiry is not None
    assert abs((expiry - soon).total_seconds()) < 0.001


def test_the_sweep_thread_restarts_what_it_claims(sessions: sessionmaker[Session]) -> None:
    restarted: list[tuple[str, str]] = []
    done = threading.Event()

    def restart(pid: str, run: str) -> None:
        restarted.append((pid, run))
        done.set()

    pid = _transfer(sessions, mover="dead:1:x/1", lease_until=utcnow() - timedelta(seconds=1))
    sweep = MovementSweep(MovementLeases(sessions, lease_seconds=30), restart)
    sweep.start()
    try:
        assert done.wait(30)
    finally:
        sweep.stop()
    [(claimed, run)] = restarted
    assert claimed == pid
    assert _row(sessions, pid).mover == run


@pytest.mark.parametrize(
    ("expires", "expired"),
    [
        (None, False),
        ("not a time", False),
        ("2020-01-01T00:00:00+00:00", True),
        ("2999-01-01T00:00:00+00:00", False),
    ],
)
def test_token_expired(expires: str | None, expired: bool) -> None:
    address: dict[str, Any] = {"endpoint": "https://p.example/data/1", "endpointProperties": []}
    if expires is not None:
        address["endpointProperties"].append({"name": EXPIRES_PROPERTY, "value": expires})
    assert token_expired(address, datetime.now(UTC), timedelta(seconds=30)) is expired


def test_token_expiring_within_the_margin_counts_as_expired() -> None:
    now = datetime.now(UTC)
    soon = (now + timedelta(seconds=10)).isoformat()
    address = {"endpointProperties": [{"name": EXPIRES_PROPERTY, "value": soon}]}
    assert token_expired(address, now, timedelta(seconds=30))
    assert not token_expired(address, now, timedelta(seconds=5))


def test_only_stale_partial_files_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".hansa-dead.part"
    fresh = tmp_path / ".hansa-alive.part"
    other = tmp_path / "data.bin"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    old = time.time() - 120
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert remove_stale_parts(tmp_path, 60) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hansa-alive.part", "data.bin"]
    assert remove_stale_parts(tmp_path / "missing", 60) == 0
