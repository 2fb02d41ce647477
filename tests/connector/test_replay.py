"""The jti replay guard on SQLite and PostgreSQL: once only, even under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.replay import ReplayGuard
from hansa.errors import HansaError
from hansa.identity.models import UsedTokenId

ISSUER = "did:web:consumer.example"


@pytest.fixture
def now() -> datetime:
    """The time of each test's own start: guards on the real clock purge by it, so a time
    taken at import would let the tokens expire when the suite runs long."""
    return datetime.now(UTC)


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(UsedTokenId)) or 0)


def test_second_use_is_refused(sessions: sessionmaker[Session], now: datetime) -> None:
    guard = ReplayGuard(sessions, clock=lambda: now)
    guard.check_and_remember("jti-1", ISSUER, now + timedelta(minutes=5))
    guard.check_and_remember("jti-2", ISSUER, now + timedelta(minutes=5))
    with pytest.raises(HansaError) as exc:
        guard.check_and_remember("jti-1", ISSUER, now + timedelta(minutes=5))
    assert (exc.value.code, exc.value.status_code) == ("dcp.token_replayed", 401)
    # A second guard (another worker on the same database) refuses it as well.
    with pytest.raises(HansaError):
        ReplayGuard(sessions).check_and_remember("jti-2", ISSUER, now + timedelta(minutes=5))


@pytest.mark.parametrize("jti", ["", "x" * 257])
def test_unusable_jti(sessions: sessionmaker[Session], jti: str, now: datetime) -> None:
    with pytest.raises(HansaError) as exc:
        ReplayGuard(sessions).check_and_remember(jti, ISSUER, now)
    assert exc.value.code == "dcp.token_invalid"


def test_concurrent_requests_with_one_jti_exactly_one_passes(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        # Each thread is its own worker with its own guard, as separate processes would be.
        guard = ReplayGuard(sessions)
        barrier.wait()
        try:
            guard.check_and_remember("shared-jti", ISSUER, now + timedelta(minutes=5))
            outcome = "passed"
        except HansaError as exc:
            outcome = exc.code
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["dcp.token_replayed"] * (threads_count - 1) + ["passed"]
    assert _count(sessions) == 1


def test_expired_rows_are_purged(sessions: sessionmaker[Session], now: datetime) -> None:
    clock = [now]
    guard = ReplayGuard(sessions, clock=lambda: clock[0], purge_interval=timedelta(minutes=1))
    guard.check_and_remember("old", ISSUER, now + timedelta(seconds=30))
    guard.check_and_remember("young", ISSUER, now + timedelta(minutes=10))
    assert _count(sessions) == 2
    # The next check after the purge interval sweeps what expired meanwhile.
    clock[0] = now + timedelta(minutes=2)
    guard.check_and_remember("newer", ISSUER, now + timedelta(minutes=12))
    with sessions() as session:
        assert set(session.scalars(select(UsedTokenId.jti))) == {"young", "newer"}
    assert guard.purge(now + timedelta(hours=1)) == 2
    assert _count(sessions) == 0
