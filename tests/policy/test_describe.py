"""Policies in words, as the catalogue shows them."""

# ruff: noqa: E501 -- the test tables read best one case per line

from __future__ import annotations

import types
from typing import Any

import pytest

import hansa.policy
from hansa.policy import PolicyError, describe_policy


def test_the_catalogue_sentence() -> None:
    policy = {
        "@type": "Offer",
        "@id": "urn:uuid:1",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                    {
                        "leftOperand": "hansa:complianceLevel",
                        "operator": "gteq",
                        "rightOperand": "SC",
                    },
                    {
                        "leftOperand": "dateTime",
                        "operator": "lteq",
                        "rightOperand": "2027-01-01T00:00:00Z",
                    },
                    {"leftOperand": "count", "operator": "lteq", "rightOperand": 10},
                ],
            }
        ],
    }
    assert describe_policy(policy) == [
        "Use is permitted if purpose is research, the consumer holds label SC or better, "
        "until 2027-01-01T00:00:00Z, at most 10 times."
    ]


def constraint(left: str, op: str, right: Any) -> dict[str, Any]:
    return {
        "permission": [
            {
                "action": "use",
                "constraint": [{"leftOperand": left, "operator": op, "rightOperand": right}],
            }
        ]
    }


@pytest.mark.parametrize(
    ("left", "op", "right", "words"),
    [
        ("dateTime", "lt", "2027-01-01T00:00:00Z", "before 2027-01-01T00:00:00Z"),
        ("dateTime", "gteq", "2026-01-01", "from 2026-01-01T00:00:00Z on"),
        ("dateTime", "lteq", "P30D", "until 30 days after the agreement starts"),
        ("dateTime", "lteq", "P1Y2M", "until 1 year 2 months after the agreement starts"),
        ("elapsedTime", "lteq", "PT36H", "within 1 day 12 hours of the agreement's start"),
        ("elapsedTime", "gt", "P1W", "more than 7 days after the agreement starts"),
        ("count", "lt", 5, "at most 4 times"),
        ("purpose", "isA", "research", "purpose is research or a narrower purpose"),
        ("purpose", "isAnyOf", ["research", "education"], "purpose is one of research, education"),
        ("purpose", "neq", "marketing", "purpose is not marketing"),
        ("spatial", "isPartOf", "EU", "the consumer is within the European Union (EU)"),
        ("spatial", "eq", "DE-HH", "the consumer's location is Hamburg (DE-HH)"),
        ("spatial", "isNoneOf", ["US", "CN"], "the consumer is within none of United States (US), China (CN)"),
        ("hansa:consumer", "eq", "did:web:a.example", "the consumer is did:web:a.example"),
        ("hansa:complianceLevel", "gt", "L1", "the consumer holds a label better than L1"),
        ("hansa:complianceLevel", "isNoneOf", ["SC"], "the consumer holds none of the labels SC"),
        ("hansa:membership", "eq", "urn:fed", "the consumer is a member of urn:fed"),
        ("hansa:membership", "isAllOf", ["urn:a", "urn:b"], "the consumer is a member of all of urn:a, urn:b"),
        ("hansa:claim#/credentialSubject/gx:countryCode", "eq", "DE", "the consumer's verified /credentialSubject/gx:countryCode is DE"),
        ("hansa:claim#/credentialSubject/employees", "gteq", 50, "the consumer's verified /credentialSubject/employees is at least 50"),
    ],
)  # fmt: skip
def test_constraint_words(left: str, op: str, right: Any, words: str) -> None:
    assert describe_policy(constraint(left, op, right)) == [f"Use is permitted if {words}."]


def test_prohibitions_duties_obligations_and_conflicts_in_words() -> None:
    policy = {
        "assignee": "did:web:consumer.example",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {
                        "or": [
                            {
                                "leftOperand": "purpose",
                                "operator": "eq",
                                "rightOperand": "research",
                            },
                            {
                                "leftOperand": "purpose",
                                "operator": "eq",
                                "rightOperand": "education",
                            },
                        ]
                    }
                ],
                "duty": [
                    {"action": "compensate"},
                    {"action": "attribute", "consequence": [{"action": "inform"}]},
                ],
            }
        ],
        "prohibition": [{"action": "distribute", "remedy": [{"action": "delete"}]}],
        "obligation": [
            {
                "action": "delete",
                "constraint": [
                    {"leftOperand": "elapsedTime", "operator": "gt", "rightOperand": "P90D"}
                ],
            }
        ],
        "conflict": "perm",
    }
    assert describe_policy(policy) == [
        "Use is permitted for did:web:consumer.example if (either purpose is research or purpose is "
        "education), provided the duty to compensate and the duty to attribute, or else the duty to "
        "inform is fulfilled.",
        "Distribute is prohibited for did:web:consumer.example; if it happens anyway, the duty to "
        "delete applies.",
        "The consumer must delete when more than 90 days after the agreement starts.",
        "Where a permission and a prohibition both apply, the permission wins.",
    ]


def test_describing_a_malformed_policy_refuses_it() -> None:
    with pytest.raises(PolicyError):
        describe_policy(
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [{"leftOperand": "x", "operator": "eq", "rightOperand": 1}],
                    }
                ]
            }
        )


def test_public_surface_is_complete() -> None:
    public = {
        name
        for name, value in vars(hansa.policy).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} == set(hansa.policy.__all__)
