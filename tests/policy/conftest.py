from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from hansa.policy import Consumer, EvaluationContext, EvaluationRequest

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

RequestFactory = Callable[..., EvaluationRequest]


@pytest.fixture
def make_request() -> RequestFactory:
    """A request with sensible facts; keyword arguments override consumer or context fields."""
    consumer_fields = {"did", "compliance_level", "memberships", "credentials"}

    def build(
        action: str = "use", target: str | None = None, **overrides: Any
    ) -> EvaluationRequest:
        consumer: dict[str, Any] = {
            "did": "did:web:consumer.example",
            "compliance_level": "L1",
            "memberships": frozenset({"urn:federation:health"}),
            "credentials": (),
        }
        context: dict[str, Any] = {
            "now": NOW,
            "purpose": "research",
            "spatial": "DE-HH",
            "count": 3,
            "agreement_start": START,
        }
        for key, value in overrides.items():
            (consumer if key in consumer_fields else context)[key] = value
        return EvaluationRequest(
            action=action,
            consumer=Consumer(**consumer),
            context=EvaluationContext(**context),
            target=target,
        )

    return build


def policy_with(*constraints: dict[str, Any], action: str = "use", **extra: Any) -> dict[str, Any]:
    """An Offer with one permission carrying the given constraints."""
    return {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "Offer",
        "@id": "urn:uuid:policy-1",
        "permission": [{"action": action, "constraint": list(constraints)}],
        **extra,
    }


@pytest.fixture
def offer() -> Callable[..., dict[str, Any]]:
    """``offer(constraint, ...)``: an Offer whose one permission has these constraints."""
    return policy_with


@pytest.fixture
def one_constraint() -> Callable[..., dict[str, Any]]:
    """Build a policy from one constraint: ``one_constraint("purpose", "eq", "research")``."""

    def build(left: Any, operator: Any, right: Any) -> dict[str, Any]:
        return policy_with({"leftOperand": left, "operator": operator, "rightOperand": right})

    return build
