"""The provider's agreements in force: the ``check_agreement`` the data plane runs on every request.

An agreement is in force when a FINALIZED negotiation (we the provider) holds it, it is
not revoked (``POST /management/agreements/{id}/revoke``) and its usage constraints hold
for one more access. The usage constraints are the ODRL ``count``, ``dateTime`` and
``elapsedTime`` constraints of its permissions, evaluated with :mod:`hansa.policy` at each
access with ``count`` = the completed accesses logged for the agreement so far
(:class:`~hansa.dataplane.usage.SqlUsageLog`: an aborted or refused access does not use
up a count, so a resumed download is one use). Constraints on the consumer's claims
(membership, labels ...) and duties were checked at negotiation time and are not
evaluated again per request: the data plane has no fresh credentials to read.

Errors (403 :class:`~hansa.dataplane.errors.AgreementNotInForce`):
``dataplane.agreement_revoked`` (revoked, or its negotiation terminated),
``dataplane.agreement_expired`` (a ``dateTime`` / ``elapsedTime`` limit passed),
``dataplane.access_limit_reached`` (``count``); 403 ``dataplane.token_mismatch`` when the
consumer or asset is not the agreement's; 404 ``agreement.not_found`` for management.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.process_models import ContractNegotiationRecord
from hansa.connector.transfer_models import AgreementRevocation
from hansa.dataplane.errors import (
    ACCESS_LIMIT_REACHED,
    AGREEMENT_EXPIRED,
    AGREEMENT_REVOKED,
    TOKEN_MISMATCH,
    AgreementNotInForce,
)
from hansa.dataplane.models import UsageEventRecord
from hansa.dataplane.usage import ACCESS_EVENT_TYPE
from hansa.db import transaction, utcnow
from hansa.errors import Forbidden, NotFound
from hansa.policy import (
    Consumer,
    EvaluationContext,
    EvaluationRequest,
    Outcome,
    Policy,
    evaluate,
    parse_policy,
)
from hansa.policy.errors import PolicyError

USAGE_OPERANDS = frozenset({"count", "dateTime", "elapsedTime"})
AGREEMENT_NOT_FOUND = "agreement.not_found"


def operand_name(left_operand: Any) -> str:
    """``odrl:count``, ``http://www.w3.org/ns/odrl/2/count`` and ``count`` are all ``count``."""
    text = str(left_operand.get("@id") if isinstance(left_operand, dict) else left_operand)
    for separator in ("#", "/", ":"):
        text = text.rsplit(separator, 1)[-1]
    return text


def _usage_constraints(constraints: Iterable[Any]) -> list[Any]:
    return [
        c
        for c in constraints
        if isinstance(c, dict) and operand_name(c.get("leftOperand")) in USAGE_OPERANDS
    ]


def usage_policy(agreement: Mapping[str, Any]) -> dict[str, Any]:
    """The agreement with only what the data plane checks per access (see the module doc)."""
    permissions = []
    for rule in agreement.get("permission") or []:
        if isinstance(rule, dict):
            kept = {"action": rule.get("action", "use")}
            constraints = _usage_constraints(rule.get("constraint") or [])
            if constraints:
                kept["constraint"] = constraints
            permissions.append(kept)
    policy = {k: v for k, v in agreement.items() if k not in ("permission", "prohibition")}
    policy.pop("obligation", None)
    policy["permission"] = permissions
    return policy


def uses_count(agreement: Mapping[str, Any]) -> bool:
    """Whether any permission limits the number of accesses."""
    return any(
        operand_name(c.get("leftOperand")) == "count"
        for rule in agreement.get("permission") or []
        if isinstance(rule, dict)
        for c in rule.get("constraint") or []
        if isinstance(c, dict)
    )


def _operand_at(document: Mapping[str, Any], pointer: str) -> str:
    """The left operand's name of the constraint at JSON ``pointer`` in ``document``."""
    node: Any = document
    for part in pointer.strip("/").split("/"):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return ""
    return operand_name(node.get("leftOperand")) if isinstance(node, dict) else ""


@dataclass(frozen=True)
class _Facts:
    """What a check needs of one agreement, as read at ``read_at`` (monotonic seconds)."""

    read_at: float
    state: str
    consumer: str
    agreement: dict[str, Any]
    revoked: str | None
    """None when in force; the revocation's reason (maybe empty) when revoked."""
    document: dict[str, Any]
    policy: Policy | PolicyError
    counted: bool


class AgreementEnforcer:
    """Finds the provider's agreements, revokes them and checks them per data request."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = utcnow,
        refresh_seconds: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.refresh_seconds = refresh_seconds
        # Agreements never change once finalized; revocations are re-read (see check).
        self._cache: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self._facts: dict[str, _Facts] = {}
        self._lock = threading.Lock()

    def _agreement(self, session: Session, agreement_id: str) -> tuple[str, str, dict[str, Any]]:
        """``(state, consumer DID, agreement)`` of a negotiation where we are the provider."""
        cached = self._cache.get(agreement_id)
        if cached is not None and cached[0] == "FINALIZED":
            return cached
        record = session.scalars(
            select(ContractNegotiationRecord).where(
                ContractNegotiationRecord.agreement_id == agreement_id,
                ContractNegotiationRecord.role == "provider",
            )
        ).first()
        if record is None or record.agreement is None:
            raise NotFound(f"there is no agreement {agreement_id!r}", code=AGREEMENT_NOT_FOUND)
        found = (record.state, record.counterparty_did, dict(record.agreement))
        with self._lock:
            self._cache[agreement_id] = found
        return found

    def finalized(self, agreement_id: str, consumer_did: str) -> dict[str, Any]:
        """The agreement, if it is FINALIZED and ``consumer_did`` is its consumer (else 404)."""
        with self._sessions() as session:
            try:
                state, consumer, agreement = self._agreement(session, agreement_id)
            except NotFound:
                consumer, state, agreement = "", "", {}
        if consumer != consumer_did:
            raise NotFound(
                f"there is no agreement {agreement_id!r} with you",
                code="transfer.agreement_not_found",
                pointer="/agreementId",
            )
        if state != "FINALIZED":
            raise Forbidden(
                f"agreement {agreement_id!r} is not FINALIZED (its negotiation is {state})",
                code="transfer.agreement_not_finalized",
                pointer="/agreementId",
            )
        return agreement

    def check(self, agreement_id: str, consumer_did: str, asset_id: str) -> None:
        """The data plane's ``check_agreement``: returns only if one more access is allowed.

        Runs before every chunk, so what it reads from the database (the agreement, its
        revocation, its parsed policy) is kept for ``refresh_seconds``; a revocation made
        through this process is seen at once, one made by another process sharing the
        database within ``refresh_seconds``. Access counts are read on every check.
        """
        now = self._clock()
        facts = self._facts.get(agreement_id)
        if facts is None or time.monotonic() - facts.read_at > self.refresh_seconds:
            facts = self._read(agreement_id)
        if facts.consumer != consumer_did or facts.agreement.get("target") != asset_id:
            raise Forbidden("the agreement is for another consumer or asset", code=TOKEN_MISMATCH)
        if facts.revoked is not None:
            raise AgreementNotInForce(
                f"agreement {agreement_id} was revoked by the provider"
                + (f": {facts.revoked}" if facts.revoked else ""),
                code=AGREEMENT_REVOKED,
            )
        if facts.state != "FINALIZED":
            raise AgreementNotInForce(
                f"agreement {agreement_id} is not in force (its negotiation is {facts.state})",
                code=AGREEMENT_REVOKED,
            )
        count = None
        if facts.counted:
            with self._sessions() as session:
                count = self._completed(session, agreement_id)
        self._evaluate(facts, now, count)

    def check_now(self, agreement_id: str, consumer_did: str, asset_id: str) -> None:
        """:meth:`check` on what the database says now (a new transfer, a token renewal)."""
        with self._lock:
            self._facts.pop(agreement_id, None)
        self.check(agreement_id, consumer_did, asset_id)

    def _read(self, agreement_id: str) -> _Facts:
        with self._sessions() as session:
            try:
                state, consumer, agreement = self._agreement(session, agreement_id)
            except NotFound:
                raise AgreementNotInForce(
                    f"agreement {agreement_id!r} does not exist here", code=AGREEMENT_REVOKED
                ) from None
            revocation = session.get(AgreementRevocation, agreement_id)
            revoked = (revocation.reason or "") if revocation is not None else None
        document = usage_policy(agreement)
        try:
            policy: Policy | PolicyError = parse_policy(document)
        except PolicyError as exc:
            policy = exc
        facts = _Facts(
            time.monotonic(),
            state,
            consumer,
            agreement,
            revoked,
            document,
            policy,
            uses_count(agreement),
        )
        with self._lock:
            self._facts[agreement_id] = facts
        return facts

    @staticmethod
    def _completed(session: Session, agreement_id: str) -> int:
        query = select(func.count()).where(
            UsageEventRecord.agreement_id == agreement_id,
            UsageEventRecord.type == ACCESS_EVENT_TYPE,
            UsageEventRecord.outcome == "completed",
        )
        return int(session.scalar(query) or 0)

    @staticmethod
    def _evaluate(facts: _Facts, now: datetime, count: int | None) -> None:
        if isinstance(facts.policy, PolicyError):
            raise AgreementNotInForce(
                f"the agreement's policy cannot be evaluated: {facts.policy}",
                code=AGREEMENT_EXPIRED,
            )
        target = facts.agreement.get("target")
        decision = evaluate(
            facts.policy,
            EvaluationRequest(
                action="use",
                consumer=Consumer(),
                context=EvaluationContext(now=now, count=count),
                target=str(target) if target else None,
            ),
        )
        if decision.allowed:
            return
        failed = [
            _operand_at(facts.document, c.pointer)
            for rule in decision.rules
            for c in rule.constraints
            if c.outcome != Outcome.SATISFIED
        ]
        raise AgreementNotInForce(
            f"the agreement does not allow this access: {decision.reason}",
            code=ACCESS_LIMIT_REACHED if "count" in failed else AGREEMENT_EXPIRED,
        )

    def revoke(self, agreement_id: str, reason: str | None = None) -> dict[str, Any]:
        """Revoke an agreement we granted: every later data request (and chunk) is refused."""
        with self._sessions() as session:
            self._agreement(session, agreement_id)
        try:
            with transaction(self._sessions) as session:
                session.add(AgreementRevocation(agreement_id=agreement_id, reason=reason))
        except IntegrityError:
            pass  # revoked already: revoking is idempotent
        with self._lock:
            self._facts.pop(agreement_id, None)  # the next check (next chunk) reads it
        return self.view(agreement_id)

    def view(self, agreement_id: str) -> dict[str, Any]:
        """The agreement with its negotiation state and revocation."""
        with self._sessions() as session:
            state, consumer, agreement = self._agreement(session, agreement_id)
            revoked = session.get(AgreementRevocation, agreement_id)
            return {
                "id": agreement_id,
                "state": state,
                "consumerDid": consumer,
                "agreement": agreement,
                "revoked": revoked is not None,
                "revokedAt": revoked.revoked_at.isoformat() if revoked is not None else None,
                "revocationReason": revoked.reason if revoked is not None else None,
            }


__all__ = [
    "AGREEMENT_NOT_FOUND",
    "USAGE_OPERANDS",
    "AgreementEnforcer",
    "operand_name",
    "usage_policy",
    "uses_count",
]
