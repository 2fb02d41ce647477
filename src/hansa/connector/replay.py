"""Replay protection for DCP self-issued ID tokens: each ``jti`` is accepted once.

The check is one INSERT into ``used_token_ids`` whose primary key is the ``jti``: the database,
not a read-then-write in Python, decides which of two concurrent requests carrying one token
wins, so exactly one passes on SQLite and on PostgreSQL alike. Rows are kept until the token
would have expired anyway (a token past its ``exp`` is refused before it gets here), then
purged now and then by whoever checks next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hansa.db import transaction, utcnow
from hansa.errors import Unauthorized
from hansa.identity.models import UsedTokenId

#: The ``jti`` column's width; a longer one is refused rather than truncated.
MAX_JTI_LENGTH = 256
#: How often expired rows are swept, at most.
PURGE_INTERVAL = timedelta(minutes=1)
# Built once: a statement made per call (and through the ORM entity) costs twice the INSERT.
_INSERT = insert(cast(Table, UsedTokenId.__table__))


class ReplayGuard:
    """Remembers every accepted ``jti`` until its token expires; refuses a second use."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = utcnow,
        purge_interval: timedelta = PURGE_INTERVAL,
    ) -> None:
        self._sessions = sessions
        with sessions() as session:
            self._engine = session.get_bind().engine
        self._clock = clock
        self._purge_interval = purge_interval
        self._next_purge: datetime | None = None
        self._lock = threading.Lock()

    def check_and_remember(self, jti: str, issuer: str, expires_at: datetime) -> None:
        """Record ``jti`` as used; raise ``dcp.token_replayed`` if it was used before."""
        if not jti or len(jti) > MAX_JTI_LENGTH:
            raise Unauthorized(
                f"the token's jti must be a non-empty string of at most {MAX_JTI_LENGTH} "
                "characters",
                code="dcp.token_invalid",
                pointer="/jti",
            )
        self._maybe_purge()
        try:
            # One INSERT on a pooled connection; no ORM unit of work to flush (this runs on
            # every protocol request).
            with self._engine.begin() as connection:
                connection.execute(
                    _INSERT, {"jti": jti, "issuer": issuer[:512], "expires_at": expires_at}
                )
        except IntegrityError as exc:
            raise Unauthorized(
                f"the token with jti {jti!r} was already used; a self-issued ID token is good "
                "for one request: issue a new one for each",
                code="dcp.token_replayed",
                pointer="/jti",
            ) from exc

    def purge(self, now: datetime) -> int:
        """Forget the ``jti`` of every token that expired before ``now``; return how many."""
        with transaction(self._sessions) as session:
            result = session.execute(delete(UsedTokenId).where(UsedTokenId.expires_at < now))
            return int(getattr(result, "rowcount", 0) or 0)

    def _maybe_purge(self) -> None:
        now = self._clock()
        with self._lock:
            if self._next_purge is not None and now < self._next_purge:
                return
            self._next_purge = now + self._purge_interval
        self.purge(now)


__all__ = ["MAX_JTI_LENGTH", "PURGE_INTERVAL", "ReplayGuard"]
