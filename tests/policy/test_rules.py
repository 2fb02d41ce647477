"""Rules: logical constraints, actions, prohibitions and conflicts, duties, obligations, parties."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from hansa.errors import BadRequest
from hansa.policy import (
    DEFAULT_PROFILE,
    Consumer,
    EvaluationContext,
    FactOperand,
    Outcome,
    RuleStatus,
    evaluate,
    parse_policy,
)

S, V, U, E, N = (
    Outcome.SATISFIED,
    Outcome.VIOLATED,
    Outcome.UNDETERMINED,
    Outcome.ERROR,
    Outcome.NOT_EVALUATED,
)
# Constraints whose outcome is known for a request with purpose research, no use count,
# and one credential holding the number 5 at /credentialSubject/n.
MEET = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
MISS = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "marketing"}
UNKNOWN = {"leftOperand": "count", "operator": "lteq", "rightOperand": 10}
BROKEN = {"leftOperand": "hansa:claim#/credentialSubject/n", "operator": "eq", "rightOperand": "x"}
PARTS = {"S": MEET, "V": MISS, "U": UNKNOWN, "E": BROKEN}
FACTS = {"count": None, "credentials": ({"credentialSubject": {"n": 5}},)}


@pytest.mark.parametrize(
    ("operator", "parts", "expected"),
    [
        ("and", "SS", S),
        ("and", "SV", V),
        ("and", "VU", V),
        ("and", "SU", U),
        ("and", "SE", E),
        ("or", "VS", S),
        ("or", "VV", V),
        ("or", "US", S),
        ("or", "UV", U),
        ("or", "SE", E),
        ("xone", "SV", S),
        ("xone", "VS", S),
        ("xone", "SS", V),
        ("xone", "VV", V),
        ("xone", "SU", U),
        ("xone", "SVV", S),
        ("andSequence", "SS", S),
        ("andSequence", "SV", V),
        ("andSequence", "VS", V),
        ("andSequence", "US", U),
    ],
)
def test_logical_constraints(
    operator: str, parts: str, expected: Outcome, make_request: Any, offer: Any
) -> None:
    policy = offer({operator: [PARTS[p] for p in parts]})
    decision = evaluate(policy, make_request(**FACTS))
    result = decision.rules[0].constraints[0]
    assert result.outcome is expected, decision.explain()
    assert decision.allowed is (expected is S)
    assert len(result.children) == len(parts)
    assert result.pointer == "/permission/0/constraint/0"
    assert result.children[0].pointer == f"/permission/0/constraint/0/{operator}/0"


def test_and_sequence_stops_at_the_first_unmet_constraint(make_request: Any, offer: Any) -> None:
    decision = evaluate(offer({"andSequence": [MISS, MEET, {"and": [MEET]}]}), make_request())
    result = decision.rules[0].constraints[0]
    assert [c.outcome for c in result.children] == [V, N, N]
    assert result.children[2].children[0].outcome is N
    assert "earlier constraint in the sequence" in result.children[1].reason


def test_nested_logical_constraints(make_request: Any, offer: Any) -> None:
    policy = offer({"or": [{"and": [MEET, MISS]}, {"xone": [MEET, MISS]}]})
    decision = evaluate(policy, make_request())
    assert decision.allowed
    outer = decision.rules[0].constraints[0]
    assert [c.outcome for c in outer.children] == [V, S]
    assert outer.reason == "satisfied: 1 of 2 constraints met; at least one is needed"
    assert outer.text == (
        "(either (purpose is research and purpose is marketing) or "
        "(exactly one of: purpose is research; purpose is marketing))"
    )


def test_an_error_anywhere_denies_even_when_another_permission_grants(make_request: Any) -> None:
    policy = {
        "permission": [
            {"action": "use", "constraint": [MEET]},
            {"action": "use", "constraint": [BROKEN]},
        ]
    }
    decision = evaluate(policy, make_request(**FACTS))
    assert not decision.allowed
    assert [r.status for r in decision.rules] == [RuleStatus.GRANTS, RuleStatus.ERROR]
    assert "type mismatch at /credentialSubject/n" in decision.reason
    assert "/permission/1/constraint/0" in decision.reason


@pytest.mark.parametrize(
    ("granted", "asked", "allowed"),
    [
        ("use", "use", True),
        ("use", "read", True),
        ("use", "odrl:distribute", True),
        ("use", "http://www.w3.org/ns/odrl/2/reproduce", True),
        ("use", "display", True),  # display is included in present, present in use
        ("present", "print", True),
        ("present", "read", False),
        ("read", "use", False),
        ("read", "distribute", False),
        ("use", "transfer", False),
        ("use", "sell", False),
        ("transfer", "sell", True),
        ("transfer", "give", True),
        ("transfer", "read", False),
    ],
)
def test_action_hierarchy(granted: str, asked: str, allowed: bool, make_request: Any) -> None:
    decision = evaluate({"permission": [{"action": granted}]}, make_request(action=asked))
    assert decision.allowed is allowed, decision.explain()
    if not allowed:
        assert decision.rules[0].status is RuleStatus.NOT_APPLICABLE
        assert "does not include" in decision.rules[0].reason
        assert "none is about" in decision.reason


def test_unknown_requested_action_is_an_error(make_request: Any) -> None:
    decision = evaluate({"permission": [{"action": "use"}]}, make_request(action="usee"))
    assert not decision.allowed
    assert decision.errors[0]["code"] == "policy.unknown_action"


USE_BUT_NOT_DISTRIBUTE = {
    "permission": [{"action": "use"}],
    "prohibition": [{"action": "distribute"}],
}


@pytest.mark.parametrize(
    ("conflict", "asked", "allowed", "phrase"),
    [
        (None, "read", True, "grants read"),
        (None, "distribute", False, "the policy is void"),
        ("invalid", "distribute", False, "conflict strategy: invalid"),
        ("prohibit", "distribute", False, "overrides it (conflict strategy: prohibit)"),
        ("odrl:prohibit", "distribute", False, "conflict strategy: prohibit"),
        ("perm", "distribute", True, "is overridden (conflict strategy: perm)"),
        (
            {"@id": "http://www.w3.org/ns/odrl/2/perm"},
            "distribute",
            True,
            "conflict strategy: perm",
        ),
    ],
)
def test_prohibitions_and_conflict_strategies(
    conflict: Any, asked: str, allowed: bool, phrase: str, make_request: Any
) -> None:
    policy = dict(USE_BUT_NOT_DISTRIBUTE)
    if conflict is not None:
        policy["conflict"] = conflict
    decision = evaluate(policy, make_request(action=asked))
    assert decision.allowed is allowed
    assert phrase in decision.reason


def test_prohibition_of_use_forbids_narrower_actions(make_request: Any) -> None:
    policy = {
        "permission": [{"action": "read"}],
        "prohibition": [{"action": "use"}],
        "conflict": "prohibit",
    }
    decision = evaluate(policy, make_request(action="read"))
    assert not decision.allowed
    assert decision.rules[1].status is RuleStatus.PROHIBITS


def test_prohibition_applies_only_when_its_constraints_hold(make_request: Any) -> None:
    policy = {
        "permission": [{"action": "use"}],
        "prohibition": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "spatial", "operator": "isNoneOf", "rightOperand": ["EEA"]}
                ],
                "remedy": [{"action": "delete"}],
            }
        ],
    }
    inside = evaluate(policy, make_request(spatial="NO"))
    assert inside.allowed
    assert inside.rules[1].status is RuleStatus.NOT_PROHIBITING
    outside = evaluate(policy, make_request(spatial="US"))
    assert not outside.allowed
    assert outside.rules[1].status is RuleStatus.PROHIBITS
    assert "remedy: delete" in outside.rules[1].reason


def test_a_prohibition_cannot_be_escaped_by_leaving_out_a_fact(make_request: Any) -> None:
    policy = {
        "permission": [{"action": "use"}],
        "prohibition": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "spatial", "operator": "isNoneOf", "rightOperand": ["EU"]}
                ],
            }
        ],
        "conflict": "prohibit",
    }
    decision = evaluate(policy, make_request(spatial=None))
    assert not decision.allowed
    assert decision.rules[1].status is RuleStatus.PROHIBITS
    assert "lacks a fact" in decision.rules[1].reason
    assert decision.rules[1].constraints[0].outcome is U


DUTY_POLICY = {
    "permission": [
        {
            "action": "use",
            "duty": [
                {"@id": "urn:duty:pay", "action": "compensate"},
                {
                    "action": "inform",
                    "constraint": [{"leftOperand": "count", "operator": "gt", "rightOperand": 100}],
                },
            ],
        }
    ]
}


def test_a_permission_grants_only_once_its_duties_are_fulfilled(make_request: Any) -> None:
    open_duty = evaluate(DUTY_POLICY, make_request())
    assert not open_duty.allowed
    permission = open_duty.rules[0]
    assert permission.status is RuleStatus.NOT_GRANTED
    assert "until its duties are fulfilled: compensate" in permission.reason
    assert [d.status for d in permission.duties] == [
        RuleStatus.OUTSTANDING,
        RuleStatus.NOT_IN_FORCE,
    ]
    by_action = evaluate(DUTY_POLICY, make_request(fulfilled_duties=frozenset({"compensate"})))
    assert by_action.allowed
    by_id = evaluate(DUTY_POLICY, make_request(fulfilled_duties=frozenset({"urn:duty:pay"})))
    assert by_id.allowed
    assert by_id.rules[0].duties[0].status is RuleStatus.FULFILLED


def test_a_duty_in_force_on_use_101_must_be_done(make_request: Any) -> None:
    decision = evaluate(
        DUTY_POLICY, make_request(count=100, fulfilled_duties=frozenset({"compensate"}))
    )
    assert not decision.allowed
    assert decision.rules[0].duties[1].status is RuleStatus.OUTSTANDING


def test_unfulfilled_duty_reports_its_consequences(make_request: Any) -> None:
    policy = {
        "permission": [
            {
                "action": "use",
                "duty": [{"action": "attribute", "consequence": [{"action": "compensate"}]}],
            }
        ]
    }
    decision = evaluate(policy, make_request())
    duty = decision.rules[0].duties[0]
    assert duty.status is RuleStatus.OUTSTANDING
    assert "its consequences now apply: compensate" in duty.reason
    assert duty.duties[0].kind == "consequence"


def test_obligations_in_force_deny_until_fulfilled(make_request: Any) -> None:
    policy = {
        "permission": [{"action": "use"}],
        "obligation": [
            {
                "action": "delete",
                "constraint": [
                    {"leftOperand": "elapsedTime", "operator": "gt", "rightOperand": "P30D"}
                ],
            }
        ],
    }
    late = evaluate(policy, make_request())  # 31 days after the start
    assert not late.allowed
    assert late.reason == "obligations are in force and not fulfilled: delete"
    assert late.rules[1].kind == "obligation"
    early = evaluate(
        policy, make_request(agreement_start=make_request().context.now - timedelta(days=10))
    )
    assert early.allowed
    assert early.rules[1].status is RuleStatus.NOT_IN_FORCE
    done = evaluate(policy, make_request(fulfilled_duties=frozenset({"delete"})))
    assert done.allowed


@pytest.mark.parametrize(
    ("asked_target", "allowed"),
    [("urn:dataset:1", True), (None, True), ("urn:dataset:2", False)],
)
def test_rules_apply_to_their_target(
    asked_target: str | None, allowed: bool, make_request: Any
) -> None:
    policy = {"target": "urn:dataset:1", "permission": [{"action": "use"}]}
    decision = evaluate(policy, make_request(target=asked_target))
    assert decision.allowed is allowed
    if not allowed:
        assert "about the target urn:dataset:1, not urn:dataset:2" in decision.rules[0].reason


def test_rules_apply_to_their_assignee(make_request: Any) -> None:
    policy = {
        "@type": "Agreement",
        "assignee": "did:web:consumer.example",
        "permission": [{"action": "use"}],
    }
    assert evaluate(policy, make_request()).allowed
    other = evaluate(policy, make_request(did="did:web:intruder.example"))
    assert not other.allowed
    assert "for did:web:consumer.example, not for did:web:intruder.example" in other.rules[0].reason


def test_the_agreement_timestamp_is_the_default_start(make_request: Any) -> None:
    policy = {
        "@type": "Agreement",
        "timestamp": "2026-05-15T12:00:00Z",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "P30D"}
                ],
            }
        ],
    }
    assert evaluate(
        policy, make_request(agreement_start=None)
    ).allowed  # 17 days after the timestamp
    explicit = evaluate(policy, make_request())  # the context's start (31 days ago) wins
    assert not explicit.allowed


def test_the_decision_is_plain_json_and_readable(make_request: Any, offer: Any) -> None:
    decision = evaluate(offer(MEET, {"or": [MISS, UNKNOWN]}), make_request(count=None))
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["allowed"] is False
    constraints = data["rules"][0]["constraints"]
    assert constraints[0] == {
        "pointer": "/permission/0/constraint/0",
        "constraint": "purpose is research",
        "outcome": "satisfied",
        "reason": "satisfied: the request's purpose is research",
        "actual": "research",
        "expected": "research",
    }
    assert constraints[1]["constraints"][1]["code"] == "policy.fact_missing"
    lines = decision.explain()
    assert lines[0] == (
        "DENIED: no permission grants use; the request lacks a fact: at most 10 times at "
        "/permission/0/constraint/1/or/1: cannot be decided: the request does not say how many "
        "uses were made so far"
    )
    assert any("the request does not say how many uses were made so far" in line for line in lines)


def test_a_malformed_policy_gives_a_decision_with_its_problems(make_request: Any) -> None:
    decision = evaluate(
        {
            "permission": [
                {
                    "action": "use",
                    "constraint": [{"leftOperand": "x", "operator": "eq", "rightOperand": 1}],
                }
            ]
        },
        make_request(),
    )
    assert not decision.allowed
    assert decision.errors[0]["code"] == "policy.unknown_left_operand"
    assert decision.errors[0]["pointer"] == "/permission/0/constraint/0/leftOperand"
    assert decision.reason.startswith("the policy cannot be evaluated: unknown left operand 'x'")
    assert decision.to_dict()["errors"] == list(decision.errors)


def test_a_parsed_policy_can_be_evaluated_many_times(make_request: Any, offer: Any) -> None:
    policy = parse_policy(offer({"leftOperand": "count", "operator": "lteq", "rightOperand": 2}))
    outcomes = [evaluate(policy, make_request(count=n)).allowed for n in range(4)]
    assert outcomes == [True, True, False, False]


@pytest.mark.parametrize(
    ("build", "pointer"),
    [
        (lambda now: EvaluationContext(now=now.replace(tzinfo=None)), "/context/now"),
        (
            lambda now: EvaluationContext(now=now, agreement_start=now.replace(tzinfo=None)),
            "/context/agreement_start",
        ),
        (lambda now: EvaluationContext(now=now, count=-1), "/context/count"),
        (lambda now: Consumer(compliance_level="gold"), "/consumer/complianceLevel"),
    ],
)
def test_malformed_requests_are_refused(build: Any, pointer: str, make_request: Any) -> None:
    with pytest.raises(BadRequest) as caught:
        build(make_request().context.now)
    assert (caught.value.code, caught.value.pointer) == ("policy.request_invalid", pointer)


def test_a_hierarchy_may_name_one_broader_purpose_as_text(make_request: Any, offer: Any) -> None:
    policy = offer({"leftOperand": "purpose", "operator": "isA", "rightOperand": "research"})
    request = make_request(purpose="genomics", purpose_hierarchy={"genomics": "research"})
    assert evaluate(policy, request).allowed


PARTNER = "https://example.org/partner"


def test_registered_fact_operands(make_request: Any, offer: Any) -> None:
    profile = DEFAULT_PROFILE.extend(operands=[FactOperand(PARTNER, "the partner level")])
    policy = offer(
        {"leftOperand": PARTNER, "operator": "isAnyOf", "rightOperand": ["gold", "silver"]}
    )
    assert evaluate(policy, make_request(facts={PARTNER: "gold"}), profile).allowed
    assert not evaluate(policy, make_request(facts={PARTNER: "bronze"}), profile).allowed
    missing = evaluate(policy, make_request(), profile)
    assert missing.rules[0].constraints[0].outcome is U
    broken = evaluate(policy, make_request(facts={PARTNER: 3}), profile)
    assert broken.rules[0].constraints[0].outcome is E
    assert not broken.allowed
    # The default profile still refuses the term.
    assert evaluate(policy, make_request(facts={PARTNER: "gold"})).errors[0]["code"] == (
        "policy.unknown_left_operand"
    )


class _Exploding(FactOperand):
    def check(self, operator: str, expected: Any, request: Any) -> Any:
        raise TypeError("'<' not supported between instances of 'datetime' and 'int'")


def test_a_comparison_that_raises_is_an_error_not_a_pass(make_request: Any, offer: Any) -> None:
    profile = DEFAULT_PROFILE.extend(operands=[_Exploding(PARTNER, "the partner level")])
    policy = {
        "permission": [{"action": "use"}],
        "prohibition": [
            {
                "action": "use",
                "constraint": [{"leftOperand": PARTNER, "operator": "eq", "rightOperand": "x"}],
            }
        ],
        "conflict": "perm",
    }
    decision = evaluate(policy, make_request(), profile)
    assert not decision.allowed
    result = decision.rules[1].constraints[0]
    assert (result.outcome, result.code) == (E, "policy.type_mismatch")
    assert "cannot compare" in result.reason
