"""Parsing: accepted spellings, DSP's own examples, and every refusal with its code and pointer."""

# ruff: noqa: E501 -- the test tables read best one case per line

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hansa.policy import (
    DEFAULT_PROFILE,
    AtomicConstraint,
    Consumer,
    EvaluationContext,
    EvaluationRequest,
    FactOperand,
    LogicalConstraint,
    PolicyError,
    evaluate,
    parse_policy,
)

EXAMPLES = Path(__file__).parent / "dsp_examples"


def policy_of(name: str) -> dict[str, Any]:
    message = json.loads((EXAMPLES / name).read_text())
    for key in ("offer", "agreement"):
        if key in message:
            return dict(message[key])
    if "hasPolicy" in message:
        return dict(message["hasPolicy"][0])
    return dict(message["dataset"][0]["hasPolicy"][0])


def problems_of(document: Any) -> list[dict[str, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document)
    error = caught.value
    assert error.status_code == 422
    assert error.errors
    assert (error.code, error.pointer) == (error.errors[0]["code"], error.errors[0]["pointer"])
    return error.errors


def rule(**fields: Any) -> dict[str, Any]:
    return {"@type": "Offer", "@id": "urn:p", "permission": [{"action": "use", **fields}]}


def atomic(
    left: Any = "purpose", op: Any = "eq", right: Any = "research", **more: Any
) -> dict[str, Any]:
    return rule(constraint=[{"leftOperand": left, "operator": op, "rightOperand": right, **more}])


@pytest.mark.parametrize(
    "name",
    [
        "contract-offer-message.json",
        "contract-offer-message_initial.json",
        "contract-request-message.json",
        "contract-request-message_initial.json",
        "contract-agreement-message.json",
        "catalog-dataset.json",
        "catalog.json",
    ],
)
def test_dsp_example_policies_parse(name: str) -> None:
    policy = parse_policy(policy_of(name))
    assert policy.uid is not None
    assert policy.uid.startswith("urn:uuid:")
    assert policy.type in ("Offer", "Agreement")
    assert [r.action for r in policy.permissions] == ["use"]


def test_dsp_agreement_evaluates_with_its_timestamp_and_parties() -> None:
    policy = parse_policy(policy_of("contract-agreement-message.json"))
    assert policy.type == "Agreement"
    assert policy.timestamp == datetime(2023, 1, 1, 1, tzinfo=UTC)
    assert policy.assignee == ("http://example.com/Consumer",)
    constraint = policy.permissions[0].constraints[0]
    assert isinstance(constraint, AtomicConstraint)
    assert constraint.right_operand == datetime(2023, 12, 31, 6, tzinfo=UTC)

    def ask(now: datetime, did: str) -> bool:
        request = EvaluationRequest(
            "use", Consumer(did=did), EvaluationContext(now=now), target=policy.target
        )
        return evaluate(policy, request).allowed

    assert ask(datetime(2023, 6, 1, tzinfo=UTC), "http://example.com/Consumer")
    assert not ask(datetime(2024, 1, 1, tzinfo=UTC), "http://example.com/Consumer")
    assert not ask(datetime(2023, 6, 1, tzinfo=UTC), "did:web:someone-else")


def test_full_dsp_agreement_needs_its_partner_operands_registered() -> None:
    document = policy_of("contract-agreement-message-full.json")
    errors = problems_of(document)
    assert {e["code"] for e in errors} == {"policy.unknown_left_operand"}
    assert errors[0]["pointer"] == "/permission/1/constraint/0/and/0/leftOperand"
    assert "'partner'" in errors[0]["detail"]
    profile = DEFAULT_PROFILE.extend(
        operands=[
            FactOperand("http://www.w3.org/ns/odrl/2/partner", "the partner level"),
            FactOperand("http://www.w3.org/ns/odrl/2/constraint1", "constraint 1"),
            FactOperand("http://www.w3.org/ns/odrl/2/constraint2", "constraint 2"),
        ]
    )
    policy = parse_policy(document, profile)
    assert len(policy.permissions) == 7
    logical = [
        c for r in policy.permissions for c in r.constraints if isinstance(c, LogicalConstraint)
    ]
    assert [c.operator for c in logical] == ["and", "or", "andSequence", "xone", "or"]
    request = EvaluationRequest(
        "use",
        Consumer(did="http://example.com/Consumer"),
        EvaluationContext(
            now=datetime(2024, 6, 1, tzinfo=UTC),
            facts={"http://www.w3.org/ns/odrl/2/partner": "gold"},
        ),
    )
    decision = evaluate(policy, request, profile)
    assert decision.allowed  # the "partner eq gold" permission grants; the others explain why not
    assert decision.rules[0].status.value == "not_granted"


def test_spellings_of_keys_and_values() -> None:
    document = {
        "@type": "odrl:Agreement",
        "odrl:uid": "urn:agreement:1",
        "http://www.w3.org/ns/odrl/2/permission": {
            "odrl:action": {"@id": "http://www.w3.org/ns/odrl/2/read"},
            "odrl:constraint": {
                "odrl:leftOperand": {"@id": "odrl:count"},
                "odrl:operator": {"@id": "odrl:lteq"},
                "odrl:rightOperand": {"@value": "5", "@type": "xsd:integer"},
            },
        },
        "odrl:conflict": {"@id": "odrl:perm"},
        "dct:title": "an annotation, ignored",
    }
    policy = parse_policy(document)
    assert policy.type == "Agreement"
    assert policy.uid == "urn:agreement:1"
    assert policy.conflict == "perm"
    permission = policy.permissions[0]
    assert permission.pointer == "/http:~1~1www.w3.org~1ns~1odrl~12~1permission"
    assert permission.action == "read"
    constraint = permission.constraints[0]
    assert isinstance(constraint, AtomicConstraint)
    assert (constraint.left_operand.name, constraint.operator, constraint.right_operand) == (
        "count",
        "lteq",
        5,
    )


def test_action_refinements_join_the_rule_constraints() -> None:
    document = {
        "permission": [
            {
                "action": {
                    "rdf:value": {"@id": "odrl:use"},
                    "refinement": [
                        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
                    ],
                },
                "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 3}],
            },
            "distribute",
        ]
    }
    policy = parse_policy(document)
    assert policy.type == "Set"
    assert [c.pointer for c in policy.permissions[0].constraints] == [
        "/permission/0/action/refinement/0",
        "/permission/0/constraint/0",
    ]
    assert policy.permissions[1].action == "distribute"


def test_policy_level_target_parties_and_action_are_inherited() -> None:
    document = {
        "@type": "Agreement",
        "target": "urn:dataset:1",
        "assignee": {"@id": "did:web:consumer"},
        "assigner": "did:web:provider",
        "action": "read",
        "permission": [{}],
        "prohibition": [{"action": "distribute", "target": "urn:dataset:2"}],
    }
    policy = parse_policy(document)
    permission, prohibition = policy.permissions[0], policy.prohibitions[0]
    assert (permission.action, permission.target, permission.assignee) == (
        "read",
        "urn:dataset:1",
        ("did:web:consumer",),
    )
    assert permission.assigner == "did:web:provider"
    assert prohibition.target == "urn:dataset:2"


def test_json_text_is_accepted() -> None:
    assert parse_policy(json.dumps(atomic())).permissions[0].action == "use"
    assert parse_policy(json.dumps(atomic()).encode()).permissions


# (document, code, pointer, a phrase of the detail)
REFUSALS: list[tuple[Any, str, str, str]] = [
    ([], "policy.invalid", "", "JSON object"),
    ("{not json", "policy.invalid", "", "not JSON"),
    ({"@type": "Offer"}, "policy.invalid", "", "at least one permission"),
    ({"@type": "Permit", "permission": [{"action": "use"}]}, "policy.invalid", "/@type", "@type must be"),
    ({"@id": 5, "permission": [{"action": "use"}]}, "policy.invalid", "/@id", "IRI"),
    ({"permission": [{"action": "use"}], "conflict": "maybe"}, "policy.invalid", "/conflict", "perm, prohibit or invalid"),
    ({"permission": [{"action": "use"}], "timestamp": "yesterday"}, "policy.invalid", "/timestamp", "xsd:dateTime"),
    ({"permission": [{"action": "use"}], "timestamp": "2023-01-01T01:00:00"}, "policy.invalid", "/timestamp", "time zone"),
    ({"permission": [{"action": "use"}], "inheritFrom": "urn:parent"}, "policy.invalid", "/inheritFrom", "inheritance"),
    ({"permission": [{"action": "use"}], "constraint": []}, "policy.invalid", "/constraint", "no property"),
    ({"permission": [{"action": "use"}], "@graph": []}, "policy.invalid", "/@graph", "no property"),
    ({"permission": [{}]}, "policy.invalid", "/permission/0/action", "needs an action"),
    ({"permission": [5]}, "policy.invalid", "/permission/0", "must be an object"),
    ({"permission": [{"action": 5}]}, "policy.invalid", "/permission/0/action", "action must be a name"),
    ({"permission": [{"action": "usee"}]}, "policy.unknown_action", "/permission/0/action", "unknown action 'usee'"),
    ({"permission": [{"action": "ex:train"}]}, "policy.unknown_action", "/permission/0/action", "register"),
    (rule(constraints=[]), "policy.invalid", "/permission/0/constraints", "did you mean 'constraint'"),
    (rule(duties=[]), "policy.invalid", "/permission/0/duties", "did you mean 'duty'"),
    (rule(**{"@type": "Prohibition"}), "policy.invalid", "/permission/0/@type", "Permission"),
    (rule(remedy=[{"action": "inform"}]), "policy.invalid", "/permission/0/remedy", "no property"),
    (rule(refinement=[]), "policy.invalid", "/permission/0/refinement", "inside the action"),
    (rule(failure=[]), "policy.invalid", "/permission/0/failure", "not supported"),
    (rule(assignee={"@type": "PartyCollection", "refinement": []}), "policy.invalid", "/permission/0/assignee", "party collections"),
    (rule(**{"odrl:action": "read"}), "policy.invalid", "/permission/0/odrl:action", "twice"),
    (rule(**{"http://www.w3.org/ns/odrl/2/bogus": 1}), "policy.invalid", "/permission/0/http:~1~1www.w3.org~1ns~1odrl~12~1bogus", "no property"),
    (rule(duty=[{"action": "compensate", "consequence": [{"action": "inform", "consequence": []}]}]),
     "policy.invalid", "/permission/0/duty/0/consequence/0/consequence", "no property"),
    (rule(constraint=[5]), "policy.invalid", "/permission/0/constraint/0", "must be an object"),
    (rule(constraint=[{"operator": "eq", "rightOperand": 1}]), "policy.invalid", "/permission/0/constraint/0/leftOperand", "needs leftOperand"),
    (rule(constraint=[{"leftOperand": "count", "rightOperand": 1}]), "policy.invalid", "/permission/0/constraint/0/operator", "needs operator"),
    (rule(constraint=[{"leftOperand": "count", "operator": "eq"}]), "policy.invalid", "/permission/0/constraint/0/rightOperand", "needs rightOperand"),
    (atomic(unit="http://qudt.org/vocab/unit/HR"), "policy.invalid", "/permission/0/constraint/0/unit", "unit"),
    (atomic(rightOperandReference="http://example.com/x"), "policy.invalid", "/permission/0/constraint/0/rightOperandReference", "not supported"),
    (atomic(status=3), "policy.invalid", "/permission/0/constraint/0/status", "evaluator"),
    (rule(constraint=[{"and": [], "or": []}]), "policy.invalid", "/permission/0/constraint/0", "exactly one of"),
    (rule(constraint=[{"and": []}]), "policy.invalid", "/permission/0/constraint/0/and", "at least one"),
    (rule(constraint=[{"xor": [atomic()]}]), "policy.invalid", "/permission/0/constraint/0/xor", "xone"),
    (rule(constraint=[{"or": [{"leftOperand": "purpose", "operator": "eq"}]}]), "policy.invalid", "/permission/0/constraint/0/or/0/rightOperand", "needs rightOperand"),
    # unknown operators and left operands
    (atomic(op="between"), "policy.unknown_operator", "/permission/0/constraint/0/operator", "unknown operator 'between'"),
    (atomic(op="term-lteq"), "policy.unknown_operator", "/permission/0/constraint/0/operator", "ODRL's operators"),
    (atomic(op="xone"), "policy.unknown_operator", "/permission/0/constraint/0/operator", "unknown operator"),
    (atomic(op=5), "policy.unknown_operator", "/permission/0/constraint/0/operator", "unknown operator"),
    (atomic(left="partner"), "policy.unknown_left_operand", "/permission/0/constraint/0/leftOperand", "unknown left operand 'partner'"),
    (atomic(left="ex:purpose"), "policy.unknown_left_operand", "/permission/0/constraint/0/leftOperand", "hansa:claim#"),
    (atomic(left="hansa:claim#credentialSubject.x"), "policy.unknown_left_operand", "/permission/0/constraint/0/leftOperand", "JSON pointer"),
    (atomic(left=7), "policy.unknown_left_operand", "/permission/0/constraint/0/leftOperand", "name or IRI"),
    # operators that do not fit the operand, right operands of the wrong type
    (atomic(left="dateTime", op="isA", right="2027-01-01T00:00:00Z"), "policy.type_mismatch", "/permission/0/constraint/0/operator", "isA does not apply to dateTime"),
    (atomic(left="purpose", op="gt", right="x"), "policy.type_mismatch", "/permission/0/constraint/0/operator", "it takes"),
    (atomic(left="hansa:consumer", op="isPartOf", right="x"), "policy.type_mismatch", "/permission/0/constraint/0/operator", "does not apply"),
    (atomic(left="dateTime", op="gt", right=5), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "not the number 5"),
    (atomic(left="dateTime", op="gt", right="tomorrow"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "xsd:dateTime"),
    (atomic(left="dateTime", op="gt", right="2026-01-01T00:00:00"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "time zone"),
    (atomic(left="dateTime", op="gt", right={"@value": "5", "@type": "xsd:integer"}), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "xsd:dateTime"),
    (atomic(left="elapsedTime", op="lt", right="30 days"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "xsd:duration"),
    (atomic(left="elapsedTime", op="lt", right=30), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "the number 30"),
    (atomic(left="count", op="lteq", right=-1), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "whole number"),
    (atomic(left="count", op="lteq", right=2.5), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "whole number"),
    (atomic(left="count", op="lteq", right="ten"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "not a number"),
    (atomic(left="count", op="lteq", right=True), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "boolean"),
    (atomic(left="count", op="lteq", right="2027-01-01T00:00:00Z"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "number"),
    (atomic(right=5), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "the number 5"),
    (atomic(right={"nested": 1}), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "@value"),
    (atomic(right=["a", "b"]), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "isAnyOf takes lists"),
    (atomic(op="isAnyOf", right=[]), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "non-empty list"),
    (atomic(left="spatial", right="Atlantis"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "ISO 3166-1"),
    (atomic(left="spatial", right="DE-XX"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "ISO 3166-2"),
    (atomic(left="spatial", op="isAnyOf", right=["DE", "XX"]), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "'XX'"),
    (atomic(left="hansa:complianceLevel", op="gteq", right="gold"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "SC, L1, L2, L3"),
    (atomic(left="hansa:claim#/a", op="gt", right="abc"), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "number or a date-time"),
    (atomic(left="hansa:claim#/a", op="isAnyOf", right=[1, "a"]), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "one type"),
    (atomic(left="hansa:claim#/a", right={"@value": "x", "@type": "xsd:hexBinary"}), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "hexBinary"),
    (atomic(left="hansa:claim#/a", right=None), "policy.type_mismatch", "/permission/0/constraint/0/rightOperand", "null"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "code", "pointer", "phrase"),
    REFUSALS,
    ids=[f"{r[1]}:{r[2]}:{i}" for i, r in enumerate(REFUSALS)],
)
def test_malformed_policies_are_refused(
    document: Any, code: str, pointer: str, phrase: str
) -> None:
    errors = problems_of(document)
    assert any(e["code"] == code and e["pointer"] == pointer for e in errors), errors
    detail = next(e["detail"] for e in errors if e["pointer"] == pointer)
    assert phrase in detail


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "permission": [
            {
                "action": "use",
                "constraints": [],
                "constraint": [
                    {"leftOperand": "dateTime", "operator": "gt", "rightOperand": 5},
                    {"leftOperand": "foo", "operator": "eq", "rightOperand": 1},
                    {"leftOperand": "purpose", "operator": "between", "rightOperand": "x"},
                ],
            }
        ],
        "prohibition": [{"action": "usee"}],
    }
    errors = problems_of(document)
    assert [(e["code"], e["pointer"]) for e in errors] == [
        ("policy.invalid", "/permission/0/constraints"),
        ("policy.type_mismatch", "/permission/0/constraint/0/rightOperand"),
        ("policy.unknown_left_operand", "/permission/0/constraint/1/leftOperand"),
        ("policy.unknown_operator", "/permission/0/constraint/2/operator"),
        ("policy.unknown_action", "/prohibition/0/action"),
    ]
    with pytest.raises(PolicyError) as caught:
        parse_policy(document)
    problem = caught.value.to_problem()
    assert problem["type"] == "https://hansa.dev/problems/policy.invalid"
    assert "and 4 more problem(s)" in problem["detail"]


def test_constraints_nested_too_deep_are_refused() -> None:
    constraint: dict[str, Any] = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "x"}
    for _ in range(20):
        constraint = {"and": [constraint]}
    errors = problems_of(rule(constraint=[constraint]))
    assert errors[0]["code"] == "policy.invalid"
    assert "nested more than" in errors[0]["detail"]


def test_registered_actions_and_their_hierarchy() -> None:
    profile = DEFAULT_PROFILE.extend(actions={"https://example.org/train": "use"})
    policy = parse_policy({"permission": [{"action": "https://example.org/train"}]}, profile)
    assert policy.permissions[0].action == "https://example.org/train"
    assert profile.covers("use", "https://example.org/train")
    assert not profile.covers("https://example.org/train", "use")
    with pytest.raises(PolicyError):
        parse_policy({"permission": [{"action": "https://example.org/train"}]})
