"""What a policy is evaluated against: the requested action, the consumer and the context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hansa.errors import BadRequest

COMPLIANCE_LEVELS = ("SC", "L1", "L2", "L3")


@dataclass(frozen=True)
class Consumer:
    """The party asking, as its verified claims describe it.

    ``credentials`` are the consumer's verified credentials as JSON (the connector
    puts here only what it has verified); ``hansa:claim#/...`` left operands read them.
    ``compliance_level`` is the Gaia-X label the consumer holds (SC, L1, L2, L3).
    """

    did: str | None = None
    compliance_level: str | None = None
    memberships: frozenset[str] = frozenset()
    credentials: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        if self.compliance_level is not None and self.compliance_level not in COMPLIANCE_LEVELS:
            raise BadRequest(
                f"compliance level must be one of {', '.join(COMPLIANCE_LEVELS)}, "
                f"not {self.compliance_level!r}",
                code="policy.request_invalid",
                pointer="/consumer/complianceLevel",
            )


@dataclass(frozen=True)
class EvaluationContext:
    """The facts of the moment.

    ``count`` is the number of uses made so far under the agreement; the use being
    asked for is number ``count + 1``. ``agreement_start`` defaults to the
    Agreement's ``timestamp`` when the policy has one. ``purpose_hierarchy`` maps a
    purpose to its broader purposes (``{"cancer-research": ["research"]}``) for
    ``isA``/``isPartOf``/``hasPart``. ``fulfilled_duties`` names the duties already
    done, by duty ``@id`` or by action (``compensate``). ``facts`` holds values for
    left operands a deployment registers itself, keyed by the operand's full IRI.
    """

    now: datetime
    purpose: str | None = None
    spatial: str | None = None
    count: int | None = None
    agreement_start: datetime | None = None
    purpose_hierarchy: Mapping[str, Sequence[str]] = field(default_factory=dict)
    fulfilled_duties: frozenset[str] = frozenset()
    facts: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("now", "agreement_start"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise BadRequest(
                    f"{name} needs a time zone",
                    code="policy.request_invalid",
                    pointer=f"/context/{name}",
                )
        if self.count is not None and (isinstance(self.count, bool) or self.count < 0):
            raise BadRequest(
                "count is the number of uses so far and cannot be negative",
                code="policy.request_invalid",
                pointer="/context/count",
            )


@dataclass(frozen=True)
class EvaluationRequest:
    """One question: may ``consumer`` perform ``action`` on ``target`` in ``context``?

    ``action`` is an ODRL action in any spelling (``use``, ``odrl:read``, an IRI).
    ``target`` is the asset asked about; when given, rules for other targets do not apply.
    """

    action: str
    consumer: Consumer
    context: EvaluationContext
    target: str | None = None
