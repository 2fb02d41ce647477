"""Left operands about the consumer's verified claims (Hansa's ODRL profile, ``hansa:``).

- ``hansa:consumer`` (``https://hansa.dev/odrl/consumer``): the consumer's DID;
  ``eq``, ``neq``, ``isAnyOf``, ``isNoneOf``.
- ``hansa:complianceLevel``: the Gaia-X label the consumer holds, ordered
  SC < L1 < L2 < L3; a consumer without a label ranks below SC, so
  ``complianceLevel gteq SC`` is violated, not undetermined.
- ``hansa:membership``: the memberships the consumer holds (a set); ``eq``/``hasPart``
  mean "is a member of", ``neq`` "is not", and the set operators compare sets.
- ``hansa:claim#<JSON pointer>``: any field of the consumer's verified credentials,
  addressed by an RFC 6901 JSON pointer inside the IRI's fragment, for example
  ``https://hansa.dev/odrl/claim#/credentialSubject/gx:countryCode`` (compact:
  ``hansa:claim#/credentialSubject/gx:countryCode``). The pointer is applied to every
  verified credential; arrays on the way are searched element by element. Claims are
  existential: ``eq``, ``gt`` ... ``isAnyOf`` hold when some credential's value
  satisfies them; ``neq`` and ``isNoneOf`` hold when no credential's value matches;
  ``isAllOf`` when the values found include every listed one. The right operand's
  type decides the comparison (a JSON number, a date-time string or
  ``{"@value", "@type": "xsd:dateTime"}``, a boolean, or text); a credential value of
  another type is a type mismatch, an error, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from hansa.policy.operands import (
    COMPARE,
    REQUEST_INVALID,
    LeftOperand,
    json_kind,
    missing,
    set_or_compare,
    verdict,
)
from hansa.policy.request import COMPLIANCE_LEVELS, EvaluationRequest
from hansa.policy.results import Check, Outcome
from hansa.policy.values import (
    NUMERIC_TYPES,
    XSD_BOOLEAN,
    XSD_DATE,
    XSD_DATETIME,
    XSD_STRING,
    Literal,
    format_datetime,
    parse_datetime,
    to_number,
)
from hansa.policy.vocabulary import HANSA, HANSA_CLAIM, ORDERING, SET_OPERATORS

TYPE_MISMATCH = "policy.type_mismatch"
IDENTITY_OPERATORS = frozenset({"eq", "neq", "isAnyOf", "isNoneOf"})


def _text(operator: str, literal: Literal, what: str) -> str:
    if not isinstance(literal.value, str) or not literal.value:
        raise ValueError(f"{what} compares with text, not {json_kind(literal.value)}")
    return literal.value


class ConsumerOperand(LeftOperand):
    """``hansa:consumer``: the consumer's DID."""

    iri = HANSA + "consumer"
    label = "the consumer"
    operators = IDENTITY_OPERATORS

    def parse_value(self, operator: str, literal: Literal) -> Any:
        return _text(operator, literal, "hansa:consumer")

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        did = request.consumer.did
        if did is None:
            return missing("the request does not say who the consumer is")
        return verdict(set_or_compare(operator, {did}, expected), did, f"the consumer is {did}")


class ComplianceLevelOperand(LeftOperand):
    """``hansa:complianceLevel``: the consumer's Gaia-X label, SC < L1 < L2 < L3."""

    iri = HANSA + "complianceLevel"
    label = "the consumer's compliance label"
    operators = ORDERING | {"isAnyOf", "isNoneOf"}

    def parse_value(self, operator: str, literal: Literal) -> Any:
        value = literal.value
        if not isinstance(value, str) or value.upper() not in COMPLIANCE_LEVELS:
            raise ValueError(
                f"complianceLevel compares with one of {', '.join(COMPLIANCE_LEVELS)}, "
                f"not {json_kind(value)}"
            )
        return value.upper()

    def words(self, operator: str, expected: Any) -> str:
        if operator == "isAnyOf":
            return f"the consumer holds one of the labels {', '.join(expected)}"
        if operator == "isNoneOf":
            return f"the consumer holds none of the labels {', '.join(expected)}"
        return {
            "gteq": f"the consumer holds label {expected} or better",
            "gt": f"the consumer holds a label better than {expected}",
            "lteq": f"the consumer holds label {expected} or lower, or none",
            "lt": f"the consumer holds a label lower than {expected}, or none",
            "eq": f"the consumer holds exactly label {expected}",
            "neq": f"the consumer does not hold label {expected}",
        }[operator]

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        level = request.consumer.compliance_level
        shown = level or "no label"
        detail = f"the consumer holds {f'label {level}' if level else 'no compliance label'}"
        if operator in SET_OPERATORS:
            held = {level} if level else set()
            return verdict(set_or_compare(operator, held, expected), shown, detail)
        rank = COMPLIANCE_LEVELS.index(level) if level else -1
        return verdict(COMPARE[operator](rank, COMPLIANCE_LEVELS.index(expected)), shown, detail)


class MembershipOperand(LeftOperand):
    """``hansa:membership``: the memberships the consumer holds."""

    iri = HANSA + "membership"
    label = "the consumer's memberships"
    operators = frozenset({"eq", "neq", "hasPart", *SET_OPERATORS})

    def parse_value(self, operator: str, literal: Literal) -> Any:
        return _text(operator, literal, "hansa:membership")

    def words(self, operator: str, expected: Any) -> str:
        shown = self.show_expected(expected)
        return {
            "eq": f"the consumer is a member of {shown}",
            "hasPart": f"the consumer is a member of {shown}",
            "neq": f"the consumer is not a member of {shown}",
            "isAnyOf": f"the consumer is a member of at least one of {shown}",
            "isAllOf": f"the consumer is a member of all of {shown}",
            "isNoneOf": f"the consumer is a member of none of {shown}",
        }[operator]

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        held = set(request.consumer.memberships)
        shown = sorted(held)
        detail = (
            f"the consumer is a member of {', '.join(shown)}"
            if held
            else "the consumer holds no membership"
        )
        return verdict(set_or_compare(operator, held, expected), shown, detail)


class FactOperand(LeftOperand):
    """A left operand a deployment registers, read from ``context.facts[iri]`` (text or a list)."""

    operators = frozenset({"eq", "neq", "hasPart", *SET_OPERATORS})

    def __init__(self, iri: str, label: str) -> None:
        self.iri = iri
        self.label = label

    def parse_value(self, operator: str, literal: Literal) -> Any:
        return _text(operator, literal, self.label)

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        if self.iri not in request.context.facts:
            return missing(f"the request gives no value for {self.label}")
        raw = request.context.facts[self.iri]
        values = raw if isinstance(raw, list | tuple | set | frozenset) else [raw]
        if not all(isinstance(v, str) for v in values):
            return Check(Outcome.ERROR, raw, f"{self.label} must be text", REQUEST_INVALID)
        held = set(values)
        return verdict(set_or_compare(operator, held, expected), raw, f"{self.label} is {raw}")


def _claim_value(literal: Literal) -> Any:
    """A claim right operand as Decimal, datetime, bool or str, by its JSON type or datatype."""
    value, datatype = literal.value, literal.datatype
    if datatype in (XSD_DATETIME, XSD_DATE):
        if not isinstance(value, str):
            raise ValueError(f"an xsd:dateTime is written as text, not {json_kind(value)}")
        return parse_datetime(value)
    if datatype in NUMERIC_TYPES:
        return to_number(value)
    if datatype == XSD_BOOLEAN:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ValueError(f"an xsd:boolean is true or false, not {value!r}")
    if datatype not in (None, XSD_STRING):
        raise ValueError(f"claims compare numbers, date-times, booleans and text, not {datatype}")
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return to_number(value)
    if isinstance(value, str):
        if datatype is None and not literal.is_iri:
            try:
                return parse_datetime(value)
            except ValueError:
                pass
        return value
    raise ValueError(
        f"claims compare numbers, date-times, booleans and text, not {json_kind(value)}"
    )


def _coerce(actual: Any, like: Any) -> Any:
    """A credential value in the type of the right operand; ValueError on a mismatch."""
    datatype = None
    if isinstance(actual, Mapping):
        if "@value" in actual:
            datatype = actual.get("@type")
            actual = actual["@value"]
        elif isinstance(actual.get("@id"), str):
            actual = actual["@id"]
    if isinstance(like, bool):
        if isinstance(actual, bool):
            return actual
    elif isinstance(like, Decimal):
        if isinstance(actual, int | float) and not isinstance(actual, bool):
            return to_number(actual)
        if isinstance(actual, str) and datatype is not None:
            return to_number(actual)
    elif isinstance(like, datetime):
        if isinstance(actual, str):
            return parse_datetime(actual)
    elif isinstance(actual, str):
        return actual
    raise ValueError(f"{json_kind(actual)} cannot be compared with {json_kind(like)}")


def collect(node: Any, tokens: list[str]) -> list[Any]:
    """Every value at ``tokens`` under ``node``; arrays are searched element by element."""
    if isinstance(node, list):
        if tokens and tokens[0].isdigit():
            index = int(tokens[0])
            return collect(node[index], tokens[1:]) if index < len(node) else []
        return [value for item in node for value in collect(item, tokens)]
    if not tokens:
        return [node]
    if isinstance(node, Mapping) and tokens[0] in node:
        return collect(node[tokens[0]], tokens[1:])
    return []


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901: ``/a/b~1c`` -> ``["a", "b/c"]``; ValueError if it is not a pointer."""
    if not pointer.startswith("/"):
        raise ValueError(
            "a claim left operand is hansa:claim# followed by a JSON pointer, "
            f"such as hansa:claim#/credentialSubject/gx:countryCode, not {pointer!r}"
        )
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


class ClaimOperand(LeftOperand):
    """``hansa:claim#/pointer``: a field of the consumer's verified credentials."""

    operators = ORDERING | SET_OPERATORS

    def __init__(self, pointer: str) -> None:
        self.tokens = parse_pointer(pointer)
        self.pointer = pointer
        self.iri = HANSA_CLAIM + pointer
        self.label = f"the consumer's verified {pointer}"

    def parse_value(self, operator: str, literal: Literal) -> Any:
        value = _claim_value(literal)
        if operator in ("gt", "gteq", "lt", "lteq") and not isinstance(value, Decimal | datetime):
            raise ValueError(f"{operator} needs a number or a date-time, not {json_kind(value)}")
        return value

    def parse_right(self, operator: str, raw: Any) -> Any:
        parsed = super().parse_right(operator, raw)
        if isinstance(parsed, tuple) and len({type(v) for v in parsed}) > 1:
            raise ValueError(f"the values of {operator} must all be of one type")
        return parsed

    def show(self, value: Any) -> str:
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        found = [v for c in request.consumer.credentials for v in collect(c, self.tokens)]
        if not found:
            return missing(f"no verified credential of the consumer has a value at {self.pointer}")
        like = expected[0] if isinstance(expected, tuple) else expected
        try:
            values = [_coerce(v, like) for v in found]
        except ValueError as exc:
            return Check(
                Outcome.ERROR,
                found if len(found) > 1 else found[0],
                f"type mismatch at {self.pointer}: {exc}",
                TYPE_MISMATCH,
            )
        shown = [self.show(v) for v in values]
        actual: Any = shown[0] if len(shown) == 1 else shown
        detail = f"the verified credentials hold {', '.join(shown)} at {self.pointer}"
        if operator in ("gt", "gteq", "lt", "lteq"):
            return verdict(any(COMPARE[operator](v, expected) for v in values), actual, detail)
        return verdict(set_or_compare(operator, set(values), expected), actual, detail)
