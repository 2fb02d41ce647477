"""Every left operand with every operator it takes, evaluated against a real request.

# ruff: noqa: E501 -- the test tables read best one case per line

The request (see conftest): now 2026-06-01T12:00Z, agreement started 2026-05-01T12:00Z
(31 days ago), purpose research, consumer in DE-HH, 3 uses so far (this is use 4),
consumer did:web:consumer.example with label L1 and membership urn:federation:health.
"""

from __future__ import annotations

from typing import Any

import pytest

from hansa.policy import DEFAULT_PROFILE, Outcome, evaluate

S, V, U, E = Outcome.SATISFIED, Outcome.VIOLATED, Outcome.UNDETERMINED, Outcome.ERROR
HIERARCHY = {"cancer-research": ["medical-research"], "medical-research": ["research"]}
CREDENTIALS = (
    {
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "credentialSubject": {
            "gx:countryCode": "DE",
            "employees": 250,
            "founded": "1999-05-01",
            "certified": True,
            "gx:legalAddress": {"gx:countrySubdivisionCode": "DE-HH"},
            "sites": [{"code": "A"}, {"code": "B"}],
            "a/b": "slash",
            "typed": {"@value": "42", "@type": "xsd:integer"},
        },
    },
    {"type": ["VerifiableCredential"], "credentialSubject": {"gx:countryCode": "FR"}},
)
CLAIM = "hansa:claim#/credentialSubject/"

# (left operand, operator, right operand, request overrides, expected outcome)
CASES: list[tuple[str, str, Any, dict[str, Any], Outcome]] = [
    # dateTime, absolute
    ("dateTime", "lt", "2027-01-01T00:00:00Z", {}, S),
    ("dateTime", "lt", "2026-01-01T00:00:00Z", {}, V),
    ("dateTime", "lteq", "2026-06-01T12:00:00Z", {}, S),
    ("dateTime", "lteq", "2023-12-31T06:00Z", {}, V),  # the DSP examples' spelling
    ("dateTime", "gt", "2026-06-01T12:00:00Z", {}, V),
    ("dateTime", "gt", "2026-01-01T00:00:00Z", {}, S),
    ("dateTime", "gteq", "2026-06-01T12:00:00Z", {}, S),
    ("dateTime", "gteq", "2026-06-01", {}, S),  # an xsd:date is its first instant, UTC
    ("dateTime", "eq", "2026-06-01T14:00:00+02:00", {}, S),
    ("dateTime", "eq", "2026-06-01T12:00:01Z", {}, V),
    ("dateTime", "neq", "2026-06-01T12:00:01Z", {}, S),
    ("dateTime", "neq", "2026-06-01T12:00:00Z", {}, V),
    ("dateTime", "lt", {"@value": "2027-01-01T00:00:00Z", "@type": "xsd:dateTime"}, {}, S),
    # dateTime, relative to the agreement start
    ("dateTime", "lteq", "P30D", {}, V),
    ("dateTime", "lteq", "P31D", {}, S),
    ("dateTime", "gt", "P30D", {}, S),
    ("dateTime", "lt", {"@value": "P60D", "@type": "xsd:duration"}, {}, S),
    ("dateTime", "lteq", "P1M", {}, S),
    ("dateTime", "lteq", "P30D", {"agreement_start": None}, U),
    # elapsedTime (31 days since the start)
    ("elapsedTime", "lteq", "P30D", {}, V),
    ("elapsedTime", "lteq", "P31D", {}, S),
    ("elapsedTime", "lt", "P1M", {}, V),
    ("elapsedTime", "gt", "P30D", {}, S),
    ("elapsedTime", "gteq", "PT744H", {}, S),
    ("elapsedTime", "eq", "P1M", {}, S),
    ("elapsedTime", "neq", "P1M", {}, V),
    ("elapsedTime", "lt", "P1Y", {}, S),
    ("elapsedTime", "lt", "P1Y", {"agreement_start": None}, U),
    # count: 3 uses so far, this is use number 4
    ("count", "lteq", 4, {}, S),
    ("count", "lteq", 3, {}, V),
    ("count", "lt", 4, {}, V),
    ("count", "lt", 5, {}, S),
    ("count", "eq", 4, {}, S),
    ("count", "neq", 4, {}, V),
    ("count", "gt", 3, {}, S),
    ("count", "gteq", 5, {}, V),
    ("count", "lteq", "10", {}, S),
    ("count", "lteq", {"@value": "10", "@type": "xsd:integer"}, {}, S),
    ("count", "lteq", 1, {"count": 0}, S),
    ("count", "lteq", 10, {"count": None}, U),
    # purpose
    ("purpose", "eq", "research", {}, S),
    ("purpose", "eq", "marketing", {}, V),
    ("purpose", "neq", "marketing", {}, S),
    ("purpose", "neq", "research", {}, V),
    ("purpose", "isAnyOf", ["education", "research"], {}, S),
    ("purpose", "isAnyOf", ["education", "marketing"], {}, V),
    ("purpose", "isNoneOf", ["marketing"], {}, S),
    ("purpose", "isNoneOf", ["research"], {}, V),
    ("purpose", "isAllOf", ["research"], {}, S),
    ("purpose", "isAllOf", ["research", "education"], {}, V),
    ("purpose", "isA", "research", {}, S),
    (
        "purpose",
        "isA",
        "research",
        {"purpose": "cancer-research", "purpose_hierarchy": HIERARCHY},
        S,
    ),
    ("purpose", "isA", "research", {"purpose": "cancer-research"}, V),  # no hierarchy given
    (
        "purpose",
        "isA",
        "education",
        {"purpose": "cancer-research", "purpose_hierarchy": HIERARCHY},
        V,
    ),
    (
        "purpose",
        "isPartOf",
        "medical-research",
        {"purpose": "cancer-research", "purpose_hierarchy": HIERARCHY},
        S,
    ),
    (
        "purpose",
        "eq",
        "research",
        {"purpose": "cancer-research", "purpose_hierarchy": HIERARCHY},
        V,
    ),
    ("purpose", "hasPart", "cancer-research", {"purpose_hierarchy": HIERARCHY}, S),
    (
        "purpose",
        "hasPart",
        "research",
        {"purpose": "cancer-research", "purpose_hierarchy": HIERARCHY},
        V,
    ),
    ("purpose", "eq", "research", {"purpose": None}, U),
    # spatial (the consumer is in DE-HH)
    ("spatial", "eq", "DE-HH", {}, S),
    ("spatial", "eq", "de-hh", {}, S),
    ("spatial", "eq", "DE", {}, V),
    ("spatial", "neq", "DE", {}, S),
    ("spatial", "neq", "DE-HH", {}, V),
    ("spatial", "isPartOf", "DE", {}, S),
    ("spatial", "isPartOf", "EU", {}, S),
    ("spatial", "isPartOf", "EEA", {}, S),
    ("spatial", "isPartOf", "FR", {}, V),
    ("spatial", "isPartOf", "http://example.org/EU", {}, S),
    ("spatial", "isPartOf", "_:EU", {}, S),
    ("spatial", "isPartOf", "EU", {"spatial": "NO"}, V),
    ("spatial", "isPartOf", "EEA", {"spatial": "NO"}, S),
    ("spatial", "isPartOf", "EEA", {"spatial": "EU"}, S),
    ("spatial", "isPartOf", "FR-IDF", {"spatial": "FR-75C"}, S),
    ("spatial", "isPartOf", "FR", {"spatial": "FR-75C"}, S),
    ("spatial", "eq", "DEU", {"spatial": "DE"}, S),
    ("spatial", "hasPart", "DE-HH", {"spatial": "DE"}, S),
    ("spatial", "hasPart", "DE", {}, V),
    ("spatial", "isAnyOf", ["FR", "DE"], {}, S),
    ("spatial", "isAnyOf", ["FR", "IT"], {}, V),
    ("spatial", "isNoneOf", ["US", "CN"], {}, S),
    ("spatial", "isNoneOf", ["EU"], {}, V),
    ("spatial", "isAllOf", ["DE", "EU"], {}, S),
    ("spatial", "isAllOf", ["DE", "FR"], {}, V),
    ("spatial", "eq", "DE", {"spatial": None}, U),
    ("spatial", "eq", "DE", {"spatial": "Atlantis"}, E),
    # the consumer's DID
    ("hansa:consumer", "eq", "did:web:consumer.example", {}, S),
    ("hansa:consumer", "eq", "did:web:other.example", {}, V),
    ("hansa:consumer", "neq", "did:web:other.example", {}, S),
    ("hansa:consumer", "neq", "did:web:consumer.example", {}, V),
    ("hansa:consumer", "isAnyOf", ["did:web:a", "did:web:consumer.example"], {}, S),
    ("hansa:consumer", "isNoneOf", ["did:web:consumer.example"], {}, V),
    ("hansa:consumer", "eq", "did:web:consumer.example", {"did": None}, U),
    # the consumer's compliance label (L1)
    ("hansa:complianceLevel", "gteq", "SC", {}, S),
    ("hansa:complianceLevel", "gteq", "L1", {}, S),
    ("hansa:complianceLevel", "gteq", "L2", {}, V),
    ("hansa:complianceLevel", "gt", "L1", {}, V),
    ("hansa:complianceLevel", "gt", "SC", {}, S),
    ("hansa:complianceLevel", "lt", "L2", {}, S),
    ("hansa:complianceLevel", "lteq", "SC", {}, V),
    ("hansa:complianceLevel", "eq", "L1", {}, S),
    ("hansa:complianceLevel", "eq", "l1", {}, S),
    ("hansa:complianceLevel", "neq", "L1", {}, V),
    ("hansa:complianceLevel", "isAnyOf", ["L1", "L2"], {}, S),
    ("hansa:complianceLevel", "isNoneOf", ["L1"], {}, V),
    ("hansa:complianceLevel", "gteq", "SC", {"compliance_level": None}, V),  # no label < SC
    ("hansa:complianceLevel", "lt", "SC", {"compliance_level": None}, S),
    ("hansa:complianceLevel", "gteq", "L3", {"compliance_level": "L3"}, S),
    ("complianceLevel", "gteq", "SC", {}, S),  # a bare Hansa term
    # memberships ({urn:federation:health})
    ("hansa:membership", "eq", "urn:federation:health", {}, S),
    ("hansa:membership", "eq", "urn:federation:mobility", {}, V),
    ("hansa:membership", "neq", "urn:federation:mobility", {}, S),
    ("hansa:membership", "hasPart", "urn:federation:health", {}, S),
    ("hansa:membership", "isAnyOf", ["urn:x", "urn:federation:health"], {}, S),
    ("hansa:membership", "isAllOf", ["urn:federation:health", "urn:x"], {}, V),
    ("hansa:membership", "isNoneOf", ["urn:x"], {}, S),
    ("hansa:membership", "eq", "urn:federation:health", {"memberships": frozenset()}, V),
    # verified claims: existential over both credentials
    (CLAIM + "gx:countryCode", "eq", "DE", {"credentials": CREDENTIALS}, S),
    (CLAIM + "gx:countryCode", "eq", "FR", {"credentials": CREDENTIALS}, S),
    (CLAIM + "gx:countryCode", "eq", "IT", {"credentials": CREDENTIALS}, V),
    (CLAIM + "gx:countryCode", "neq", "DE", {"credentials": CREDENTIALS}, V),
    (CLAIM + "gx:countryCode", "neq", "IT", {"credentials": CREDENTIALS}, S),
    (CLAIM + "gx:countryCode", "isAnyOf", ["IT", "FR"], {"credentials": CREDENTIALS}, S),
    (CLAIM + "gx:countryCode", "isNoneOf", ["DE"], {"credentials": CREDENTIALS}, V),
    (CLAIM + "gx:countryCode", "isAllOf", ["DE", "FR"], {"credentials": CREDENTIALS}, S),
    (CLAIM + "gx:countryCode", "isAllOf", ["DE", "IT"], {"credentials": CREDENTIALS}, V),
    (CLAIM + "employees", "gt", 100, {"credentials": CREDENTIALS}, S),
    (
        CLAIM + "employees",
        "gteq",
        {"@value": "250", "@type": "xsd:integer"},
        {"credentials": CREDENTIALS},
        S,
    ),
    (CLAIM + "employees", "lt", 100, {"credentials": CREDENTIALS}, V),
    (CLAIM + "employees", "lteq", 250.0, {"credentials": CREDENTIALS}, S),
    (CLAIM + "employees", "eq", 250, {"credentials": CREDENTIALS}, S),
    (CLAIM + "typed", "eq", 42, {"credentials": CREDENTIALS}, S),
    (CLAIM + "founded", "lt", "2000-01-01T00:00:00Z", {"credentials": CREDENTIALS}, S),
    (
        CLAIM + "founded",
        "gt",
        {"@value": "2000-01-01", "@type": "xsd:date"},
        {"credentials": CREDENTIALS},
        V,
    ),
    (CLAIM + "certified", "eq", True, {"credentials": CREDENTIALS}, S),
    (CLAIM + "sites/code", "eq", "B", {"credentials": CREDENTIALS}, S),
    (CLAIM + "sites/1/code", "eq", "B", {"credentials": CREDENTIALS}, S),
    (CLAIM + "sites/0/code", "eq", "B", {"credentials": CREDENTIALS}, V),
    (CLAIM + "a~1b", "eq", "slash", {"credentials": CREDENTIALS}, S),
    (
        CLAIM + "gx:legalAddress/gx:countrySubdivisionCode",
        "eq",
        "DE-HH",
        {"credentials": CREDENTIALS},
        S,
    ),
    (
        "https://hansa.dev/odrl/claim#/credentialSubject/gx:countryCode",
        "eq",
        "DE",
        {"credentials": CREDENTIALS},
        S,
    ),
    ("/type", "eq", "gx:LegalPerson", {"credentials": CREDENTIALS}, S),
    # type mismatches found only against the data are errors, never passes
    (CLAIM + "gx:countryCode", "gt", 5, {"credentials": CREDENTIALS}, E),
    (CLAIM + "employees", "eq", "many", {"credentials": CREDENTIALS}, E),
    (CLAIM + "certified", "eq", "yes", {"credentials": CREDENTIALS}, E),
    (CLAIM + "employees", "lt", "2020-01-01T00:00:00Z", {"credentials": CREDENTIALS}, E),
    (CLAIM + "nothing", "eq", "x", {"credentials": CREDENTIALS}, U),
    (CLAIM + "gx:countryCode", "eq", "DE", {}, U),
]
CASES = [
    (("hansa:claim#" + left) if left.startswith("/") else left, op, right, facts, outcome)
    for left, op, right, facts, outcome in CASES
]


def _case_id(case: tuple[str, str, Any, dict[str, Any], Outcome]) -> str:
    left, op, right, facts, outcome = case
    return f"{left.replace(CLAIM, 'claim:')}-{op}-{right}-{sorted(facts)}-{outcome.value}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_operator(case: Any, make_request: Any, one_constraint: Any) -> None:
    left, op, right, facts, expected = case
    decision = evaluate(one_constraint(left, op, right), make_request(**facts))
    assert not decision.errors, decision.errors
    result = decision.rules[0].constraints[0]
    assert result.outcome is expected, "\n".join(decision.explain())
    assert decision.allowed is (expected is S)
    assert result.reason
    assert result.text
    if expected in (S, V):
        assert result.actual is not None
        assert result.expected is not None
    if expected is E:
        assert result.code in ("policy.type_mismatch", "policy.request_invalid")
        assert "cannot be evaluated" in decision.reason
    if expected is U:
        assert result.code == "policy.fact_missing"


def test_every_operator_of_every_operand_is_exercised() -> None:
    """The table covers each (left operand, operator) pair the built-in profile accepts."""
    covered = {(DEFAULT_PROFILE.left_operand(left).iri, op) for left, op, *_ in CASES}
    missing = {
        (operand.name, op)
        for operand in DEFAULT_PROFILE.operands.values()
        for op in operand.operators
        if (operand.iri, op) not in covered
    }
    assert not missing
    claim_ops = {op for left, op, *_ in CASES if "claim#" in left}
    assert claim_ops == {"eq", "neq", "gt", "gteq", "lt", "lteq", "isAnyOf", "isAllOf", "isNoneOf"}


@pytest.mark.parametrize(
    ("left", "op"),
    [
        ("dateTime", "lteq"),
        ("odrl:dateTime", "odrl:lteq"),
        ("http://www.w3.org/ns/odrl/2/dateTime", "http://www.w3.org/ns/odrl/2/lteq"),
        ({"@id": "odrl:dateTime"}, {"@id": "odrl:lteq"}),
    ],
)
def test_compact_prefixed_and_iri_forms_mean_the_same(
    left: Any, op: Any, make_request: Any, one_constraint: Any
) -> None:
    decision = evaluate(one_constraint(left, op, "2027-01-01T00:00:00Z"), make_request())
    assert decision.allowed, decision.explain()
    assert decision.rules[0].constraints[0].text == "until 2027-01-01T00:00:00Z"


def test_set_operand_as_jsonld_list(make_request: Any, one_constraint: Any) -> None:
    policy = one_constraint("purpose", "isAnyOf", {"@list": ["education", "research"]})
    assert evaluate(policy, make_request()).allowed


def test_relative_date_reason_shows_the_limit(make_request: Any, one_constraint: Any) -> None:
    decision = evaluate(one_constraint("dateTime", "lteq", "P30D"), make_request())
    result = decision.rules[0].constraints[0]
    assert result.text == "until 30 days after the agreement starts"
    assert "the limit is 2026-05-31T12:00:00Z" in result.reason
    assert result.actual == "2026-06-01T12:00:00Z"
    assert result.expected == "P30D"


def test_count_reason_says_which_use(make_request: Any, one_constraint: Any) -> None:
    decision = evaluate(one_constraint("count", "lteq", 3), make_request())
    result = decision.rules[0].constraints[0]
    assert result.reason == "not met: this would be use number 4 (3 made so far)"
    assert (result.actual, result.expected) == (4, 3)
