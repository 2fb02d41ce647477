"""StateWaiters: a waiter reads again only when its own process reached a state it awaits."""

from __future__ import annotations

import threading
from typing import Any

from hansa.connector.state_waits import StateWaiters


class Store:
    """A process's state as the database would give it, counting the reads."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.reads = 0
        self.read_once = threading.Event()

    def read(self) -> dict[str, Any]:
        self.reads += 1
        self.read_once.set()
        return {"state": self.state}


def _waiting(waiters: StateWaiters, store: Store, pid: str) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(
        target=lambda: result.append(waiters.wait(pid, ("FINALIZED",), 30, store.read))
    )
    thread.start()
    assert store.read_once.wait(10)
    return thread, result


def test_a_state_already_reached_is_answered_at_once() -> None:
    store = Store("FINALIZED")
    assert StateWaiters().wait("p1", ("FINALIZED",), 30, store.read) == {"state": "FINALIZED"}
    assert store.reads == 1


def test_the_waiter_wakes_for_its_state_and_skips_the_read_for_others() -> None:
    waiters, store = StateWaiters(), Store("REQUESTED")
    thread, result = _waiting(waiters, store, "p1")
    waiters.committed("p1", "AGREED")  # not awaited: no read
    waiters.committed("p2", "FINALIZED")  # another negotiation: no read
    store.state = "FINALIZED"
    waiters.committed("p1", "FINALIZED")
    thread.join(10)
    assert result == [{"state": "FINALIZED"}]


def test_reads_are_counted_only_for_awaited_states() -> None:
    waiters, store = StateWaiters(), Store("REQUESTED")
    thread, _ = _waiting(waiters, store, "p1")
    for _ in range(5):
        waiters.committed("p1", "AGREED")
    store.state = "FINALIZED"
    waiters.committed("p1", "FINALIZED")
    thread.join(10)
    # The first read, and the one after FINALIZED (a once-a-second poll may add one).
    assert store.reads <= 3


def test_an_unknown_commit_makes_every_waiter_read() -> None:
    waiters, store = StateWaiters(), Store("REQUESTED")
    thread, result = _waiting(waiters, store, "p1")
    store.state = "FINALIZED"
    waiters.committed(None)
    thread.join(10)
    assert result == [{"state": "FINALIZED"}]


def test_the_timeout_answers_the_state_as_it_is() -> None:
    store = Store("REQUESTED")
    assert StateWaiters().wait("p1", ("FINALIZED",), 0, store.read) == {"state": "REQUESTED"}


def test_a_finished_wait_leaves_nothing_behind() -> None:
    waiters = StateWaiters()
    waiters.wait("p1", ("FINALIZED",), 0, Store("FINALIZED").read)
    assert waiters._watched == {}
