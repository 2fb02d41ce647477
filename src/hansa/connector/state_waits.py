"""Waiting for a persisted process to reach a state, woken by this process's commits.

A management call may wait (``?waitFor=FINALIZED``) until a negotiation reaches a state.
:class:`StateWaiters` wakes a waiter only when *its* process committed a state it waits
for, and the waiter reads the database outside the lock: neither the read nor the wake-up
holds up the thread that commits (and sends) the next protocol message. A committer may
hand over the view of what it committed (``render``, called only when someone waits), and
the waiter answers with it instead of reading it back. Commits made by another process on
a shared database are seen by polling once a second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

View = dict[str, Any]
_HISTORY = 16


@dataclass
class _Watch:
    waiters: int = 0
    version: int = 0
    # (version, state) of the latest commits; a state of None means "read to know".
    history: deque[tuple[int, str | None]] = field(default_factory=lambda: deque(maxlen=_HISTORY))
    # The view of the latest commit, when its committer rendered one (else None).
    view: View | None = None


class StateWaiters:
    """Waiters per process id, woken by :meth:`committed`; thread-safe."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._watched: dict[str, _Watch] = {}

    def committed(
        self,
        pid: str | None,
        state: str | None = None,
        render: Callable[[], View] | None = None,
    ) -> None:
        """``pid`` was committed in ``state`` (None: unknown); ``pid`` None: any may have.

        ``render`` gives the view of what was committed; it is called only when ``pid`` has
        a waiter, before the waiter is woken.
        """
        view = None
        if pid is not None and render is not None:
            with self._condition:
                waited = pid in self._watched
            view = render() if waited else None
        with self._condition:
            if pid is None:
                watches = list(self._watched.values())
            else:
                watch = self._watched.get(pid)
                watches = [watch] if watch is not None else []
            for watch in watches:
                watch.version += 1
                watch.history.append((watch.version, state if pid is not None else None))
                watch.view = view
            if watches:
                self._condition.notify_all()

    def wait(
        self, pid: str, states: tuple[str, ...], timeout: float, read: Callable[[], View]
    ) -> View:
        """``read()`` once its ``state`` is one of ``states``, or as it is after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._condition:
            watch = self._watched.setdefault(pid, _Watch())
            watch.waiters += 1
            seen = watch.version
        try:
            view = read()
            while view["state"] not in states:
                left = deadline - time.monotonic()
                if left <= 0:
                    return read()
                until = time.monotonic() + min(left, 1.0)
                with self._condition:
                    while watch.version == seen and (pause := until - time.monotonic()) > 0:
                        self._condition.wait(pause)
                    relevant = self._relevant(watch, seen, states)
                    seen, committed = watch.version, watch.view
                if relevant:
                    view = committed if committed is not None else read()
            return view
        finally:
            with self._condition:
                watch.waiters -= 1
                if watch.waiters == 0:
                    del self._watched[pid]

    @staticmethod
    def _relevant(watch: _Watch, seen: int, states: tuple[str, ...]) -> bool:
        """Whether to read again: nothing committed (a poll), or a state that may be awaited."""
        if watch.version == seen:
            return True  # a second passed: another process may have moved it
        newer = [state for version, state in watch.history if version > seen]
        if len(newer) < watch.version - seen:
            return True  # more commits than the history keeps
        return any(state is None or state in states for state in newer)


__all__ = ["StateWaiters"]
