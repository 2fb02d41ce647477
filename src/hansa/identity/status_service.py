"""Status lists on both sides: the issuer's lists (allocate, revoke, suspend, publish) and the
verifier's check (fetch, verify, cache, fail closed).

Issuer side. Lists come in pairs that share indexes: ``revocation-<n>`` and
``suspension-<n>``. A credential gets one index in pair ``n`` and may carry an
entry in either list or both. Sharing the index lets one ``issued_credentials``
row (credential id -> list, index) serve both purposes. Allocation locks the
revocation list's row (``SELECT ... FOR UPDATE`` on PostgreSQL) and increments
``next_index`` with one atomic ``UPDATE``, which is also safe on SQLite, where
the first write of a transaction takes the database write lock.

Verifier side. :class:`StatusChecker` never lets a credential pass when its
status cannot be established: an unreachable, unverifiable or malformed list is
``status.unavailable``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hansa.db import transaction
from hansa.errors import BadRequest, Conflict, Forbidden, HansaError, NotFound, UpstreamUnavailable
from hansa.identity.did import did_web_from_url
from hansa.identity.models import IssuedCredential, StatusList
from hansa.identity.status_list import (
    LIST_CREDENTIAL_TYPE,
    LIST_TYPE,
    MAX_DECODED_BYTES,
    MIN_LENGTH,
    STATUS_PURPOSES,
    DecodedStatusList,
    StatusPurpose,
    check_status,
    decode_list,
    get_bit,
    new_bitstring,
    set_bit,
    status_list_credential,
    status_list_entry,
)
from hansa.identity.validity import check_validity_period

_ALLOCATION_ATTEMPTS = 8
LIST_VALIDITY = timedelta(hours=24)
"""How long a signed list stays valid: a stale list replayed later stops being accepted."""


class _ListFilledUp(Exception):
    """The lists changed under this allocation (filled up, or a new one appeared): look again."""


def _list_id(pair: int, purpose: StatusPurpose) -> str:
    return f"{purpose}-{pair}"


def _pair_of(list_id: str) -> int:
    return int(list_id.rsplit("-", 1)[1])


@dataclass(frozen=True)
class CredentialStatusInfo:
    """Where a credential's status lives and what it is now."""

    credential_id: str
    pair: int
    index: int
    revoked: bool
    suspended: bool


class StatusListService:
    """The issuer's Bitstring Status Lists, published at ``{base_url}/status/{list_id}``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        base_url: str,
        *,
        issuer: str | None = None,
        list_length: int = MIN_LENGTH,
    ) -> None:
        new_bitstring(list_length)  # validates the length early
        self._sessions = sessions
        self._base_url = base_url.rstrip("/")
        self.issuer = issuer or did_web_from_url(base_url)
        self._length = list_length

    def list_url(self, list_id: str) -> str:
        return f"{self._base_url}/status/{list_id}"

    # --- allocation ----------------------------------------------------------------------

    def allocate(
        self,
        credential_id: str,
        *,
        purposes: Sequence[StatusPurpose] = STATUS_PURPOSES,
        subject: str | None = None,
        types: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Reserve a status index for a new credential; return its ``credentialStatus`` entries.

        Put the returned list (or its single entry) into the credential before
        signing it. The same credential id cannot be allocated twice.
        """
        wanted = list(dict.fromkeys(purposes))
        if not wanted or any(p not in STATUS_PURPOSES for p in wanted):
            raise Conflict(
                f"status purposes must be among {', '.join(STATUS_PURPOSES)}",
                code="status.invalid_purpose",
            )
        for _attempt in range(_ALLOCATION_ATTEMPTS):
            try:
                pair, index = self._allocate_once(credential_id, subject, list(types))
            except (IntegrityError, _ListFilledUp):
                # Another issuer created the same new list pair, or recorded the same
                # credential id, at the same moment: look again.
                continue
            return [
                status_list_entry(self.list_url(_list_id(pair, purpose)), index, purpose)
                for purpose in wanted
            ]
        raise Conflict(
            "could not allocate a status index under contention; try again",
            code="status.allocation_contended",
        )

    def _allocate_once(
        self, credential_id: str, subject: str | None, types: list[str]
    ) -> tuple[int, int]:
        with transaction(self._sessions) as session:
            if session.get(IssuedCredential, credential_id) is not None:
                raise Conflict(
                    f"credential {credential_id!r} already has a status entry",
                    code="status.duplicate_credential",
                )
            current = session.scalars(
                select(StatusList)
                .where(
                    StatusList.purpose == "revocation", StatusList.next_index < StatusList.length
                )
                .order_by(StatusList.id)
                .limit(1)
                .with_for_update()
            ).first()
            if current is None:
                pair = self._create_pair(session)
                list_id = _list_id(pair, "revocation")
            else:
                list_id = current.id
                pair = _pair_of(list_id)
            # The increment itself is one statement, so even without row locks (SQLite)
            # two issuers can never get the same index.
            taken = session.execute(
                update(StatusList)
                .where(StatusList.id == list_id, StatusList.next_index < StatusList.length)
                .values(next_index=StatusList.next_index + 1)
                .returning(StatusList.next_index)
            ).scalar_one_or_none()
            if taken is None:
                raise _ListFilledUp
            index = taken - 1
            session.execute(
                update(StatusList)
                .where(StatusList.id == _list_id(pair, "suspension"))
                .values(next_index=taken)
            )
            session.add(
                IssuedCredential(
                    id=credential_id,
                    status_list_id=list_id,
                    status_index=index,
                    subject=subject,
                    types=types,
                )
            )
        return pair, index

    def _create_pair(self, session: Session) -> int:
        lists = session.execute(
            select(StatusList.id, StatusList.next_index, StatusList.length).where(
                StatusList.purpose == "revocation"
            )
        ).all()
        if any(next_index < length for _, next_index, length in lists):
            # A concurrent issuer created a list since this transaction looked
            # (PostgreSQL's READ COMMITTED shows it now): use that one instead.
            raise _ListFilledUp
        pair = max((_pair_of(list_id) for list_id, _, _ in lists), default=0) + 1
        bits = bytes(new_bitstring(self._length))
        for purpose in STATUS_PURPOSES:
            session.add(
                StatusList(
                    id=_list_id(pair, purpose),
                    purpose=purpose,
                    length=self._length,
                    bits=bits,
                    next_index=0,
                )
            )
        session.flush()
        return pair

    # --- changing status -----------------------------------------------------------------

    def revoke(self, credential_id: str) -> None:
        """Revoke for good: the revocation bit is set and never cleared."""
        self._set(credential_id, "revocation", True)

    def unrevoke(self, credential_id: str) -> None:
        """Always refused: revocation is final (suspend instead for a temporary hold)."""
        self._lookup(credential_id)
        raise Conflict(
            "revocation is final and cannot be undone; issue a new credential instead "
            "(use suspension for a temporary hold)",
            code="status.revocation_final",
        )

    def suspend(self, credential_id: str) -> None:
        self._set(credential_id, "suspension", True)

    def unsuspend(self, credential_id: str) -> None:
        self._set(credential_id, "suspension", False)

    def status_of(self, credential_id: str) -> CredentialStatusInfo:
        record = self._lookup(credential_id)
        pair = _pair_of(record.status_list_id)
        with self._sessions() as session:
            lists = {
                row.purpose: row.bits
                for row in session.scalars(
                    select(StatusList).where(
                        StatusList.id.in_([_list_id(pair, p) for p in STATUS_PURPOSES])
                    )
                )
            }
        return CredentialStatusInfo(
            credential_id=credential_id,
            pair=pair,
            index=record.status_index,
            revoked=get_bit(lists["revocation"], record.status_index),
            suspended=get_bit(lists["suspension"], record.status_index),
        )

    def _lookup(self, credential_id: str) -> IssuedCredential:
        with self._sessions() as session:
            record = session.get(IssuedCredential, credential_id)
        if record is None:
            raise NotFound(
                f"no credential {credential_id!r} with a status entry was issued here",
                code="status.unknown_credential",
            )
        return record

    def _set(self, credential_id: str, purpose: StatusPurpose, value: bool) -> None:
        record = self._lookup(credential_id)
        list_id = _list_id(_pair_of(record.status_list_id), purpose)
        with transaction(self._sessions) as session:
            # Write first: on SQLite the first write takes the database lock, on
            # PostgreSQL the row lock, so the read-modify-write below loses no update.
            session.execute(
                update(StatusList).where(StatusList.id == list_id).values(updated_at=_utcnow())
            )
            row = session.scalars(
                select(StatusList).where(StatusList.id == list_id).with_for_update()
            ).one()
            if purpose == "suspension" and value:
                revocation = session.get(StatusList, _list_id(_pair_of(list_id), "revocation"))
                if revocation is not None and get_bit(revocation.bits, record.status_index):
                    raise Conflict(
                        f"credential {credential_id!r} is revoked; suspending it changes nothing",
                        code="status.already_revoked",
                    )
            bits = bytearray(row.bits)
            set_bit(bits, record.status_index, value)
            row.bits = bytes(bits)

    # --- publishing ----------------------------------------------------------------------

    def list_credential(self, list_id: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The current, unsigned ``BitstringStatusListCredential`` of a list."""
        with self._sessions() as session:
            row = session.get(StatusList, list_id)
        if row is None:
            raise NotFound(f"no status list {list_id!r}", code="status.unknown_list")
        now = now or _utcnow()
        purpose: StatusPurpose = "revocation" if row.purpose == "revocation" else "suspension"
        return status_list_credential(
            self.list_url(list_id),
            self.issuer,
            purpose,
            row.bits,
            valid_from=now,
            valid_until=now + LIST_VALIDITY,
        )

    def status_list_credential(
        self, list_id: str, sign: Callable[[dict[str, Any]], str], *, now: datetime | None = None
    ) -> str:
        """The current list credential signed by ``sign`` (a ``vc+jwt``), ready to serve."""
        return sign(self.list_credential(list_id, now=now))


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- the verifier side ----------------------------------------------------------------------


@dataclass
class _CachedList:
    expires: float
    credential: dict[str, Any]
    issuer: str
    decoded: DecodedStatusList


def _check_list_shape(credential: dict[str, Any]) -> None:
    types = credential.get("type")
    subject = credential.get("credentialSubject")
    if (
        not isinstance(types, list)
        or LIST_CREDENTIAL_TYPE not in types
        or not isinstance(subject, dict)
        or subject.get("type") != LIST_TYPE
    ):
        raise BadRequest(
            f"not a {LIST_CREDENTIAL_TYPE} with one {LIST_TYPE} subject",
            code="status.list_malformed",
        )


def _issuer_of(credential: dict[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _unavailable(url: str | None, reason: str, cause: str) -> UpstreamUnavailable:
    where = f"the status list {url}" if url else "a status list"
    return UpstreamUnavailable(
        f"{where} cannot be used ({reason}); the credential's status is unknown, "
        "so it is not accepted",
        code="status.unavailable",
        pointer="/credentialStatus",
        cause=cause,
    )


class StatusChecker:
    """Checks ``credentialStatus`` against fetched, verified status lists; fails closed.

    ``fetch(url) -> bytes`` gets the list credential (the guarded HTTP client);
    ``verify(token) -> (credential, issuer)`` checks its signature. Lists are cached
    per URL for ``ttl_seconds`` (shorter if the list's own ``ttl`` says so).
    """

    def __init__(
        self,
        fetch: Callable[[str], bytes],
        verify: Callable[[str], tuple[dict[str, Any], str]],
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_list_bytes: int = MAX_DECODED_BYTES,
        max_cached_lists: int = 1024,
    ) -> None:
        self._fetch = fetch
        self._verify = verify
        self._ttl = ttl_seconds
        self._clock = clock
        self._max_bytes = max_list_bytes
        self._max_cached = max_cached_lists
        self._cache: dict[str, _CachedList] = {}
        self._lock = threading.Lock()

    def check(self, credential: dict[str, Any], issuer: str | None = None) -> None:
        """Raise ``vc.revoked`` / ``vc.suspended`` (Forbidden), ``status.issuer_mismatch``,
        or ``status.unavailable``; return quietly when every status bit is clear.

        ``issuer`` is the verified issuer of ``credential``; by default its ``issuer``.
        """
        expected = issuer or _issuer_of(credential)
        if expected is None:
            raise Forbidden(
                "the credential names no issuer, so its status list cannot be checked",
                code="status.issuer_mismatch",
                pointer="/issuer",
            )

        def fetch_list(url: str) -> DecodedStatusList:
            cached = self._get(url)
            if cached.issuer != expected:
                raise Forbidden(
                    f"the status list {url} is signed by {cached.issuer}, not by the "
                    f"credential's issuer {expected}",
                    code="status.issuer_mismatch",
                    pointer="/credentialStatus",
                )
            try:
                # Again at every use: a cached list may run out of its validity period.
                check_validity_period(cached.credential)
            except HansaError as exc:
                raise _unavailable(url, exc.detail, exc.code) from exc
            return cached.decoded

        try:
            check_status(credential, fetch_list, max_bytes=self._max_bytes)
        except HansaError as exc:
            # A list that is there and signed but unusable says nothing about the
            # credential: fail closed.
            if exc.code.startswith("status.list_"):
                raise _unavailable(None, exc.detail, exc.code) from exc
            raise

    def invalidate(self, url: str | None = None) -> None:
        """Forget a cached list (or all of them)."""
        with self._lock:
            if url is None:
                self._cache.clear()
            else:
                self._cache.pop(url, None)

    def _get(self, url: str) -> _CachedList:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and cached.expires > now:
            return cached
        cached = self._load(url, now)
        with self._lock:
            if len(self._cache) >= self._max_cached:
                # Credentials choose their list URLs, so the cache must not grow
                # without bound: drop expired lists, then the oldest.
                for stale in [u for u, c in self._cache.items() if c.expires <= now]:
                    del self._cache[stale]
                while len(self._cache) >= self._max_cached:
                    del self._cache[next(iter(self._cache))]
            self._cache[url] = cached
        return cached

    def _load(self, url: str, now: float) -> _CachedList:
        try:
            body = self._fetch(url)
        except Exception as exc:  # any failure to fetch means "status unknown"
            cause = exc.code if isinstance(exc, HansaError) else type(exc).__name__
            raise _unavailable(url, f"fetching it failed: {exc}", cause) from exc
        try:
            token = body.decode("utf-8").strip()
            credential, list_issuer = self._verify(token)
        except Exception as exc:  # an unverifiable list is no list
            cause = exc.code if isinstance(exc, HansaError) else type(exc).__name__
            raise _unavailable(url, f"it does not verify: {exc}", cause) from exc
        try:
            check_validity_period(credential)
            # Check the list's shape and decode it once now, so that a gzip bomb or a
            # malformed list is refused here and never cached.
            _check_list_shape(credential)
            bits = decode_list(
                credential["credentialSubject"].get("encodedList"), max_bytes=self._max_bytes
            )
        except HansaError as exc:
            raise _unavailable(url, exc.detail, exc.code) from exc
        return _CachedList(
            self._expiry(credential, now),
            credential,
            list_issuer,
            DecodedStatusList(credential, bits),
        )

    def _expiry(self, credential: dict[str, Any], now: float) -> float:
        ttl = self._ttl
        subject = credential.get("credentialSubject")
        if isinstance(subject, dict):
            # The spec's optional ``ttl`` is in milliseconds.
            list_ttl = subject.get("ttl")
            if (
                isinstance(list_ttl, int | float)
                and not isinstance(list_ttl, bool)
                and list_ttl > 0
            ):
                ttl = min(ttl, list_ttl / 1000)
        return now + ttl
