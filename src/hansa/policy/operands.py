"""Left operands about time, use and place: what each reads from the request, which right
operands and operators it takes, and how it says itself in words.

Representations (documented here because a policy author needs them):

- ``dateTime`` compares the evaluation time with an xsd:dateTime (``2027-01-01T00:00:00Z``;
  a zone is required; an xsd:date means its first instant in UTC) or, relative to the
  agreement, with an xsd:duration: ``dateTime lteq "P30D"`` means "until 30 days after
  the agreement started". The agreement start is the context's ``agreement_start``, or
  else the Agreement's ``timestamp``.
- ``elapsedTime`` compares the time since the agreement started with an xsd:duration.
  Months and years are added by the calendar (``P1M`` after 31 January is 28/29 February).
- ``count`` compares the number of the use being asked for (uses so far + 1) with a
  non-negative integer: ``count lteq 10`` allows ten uses.
- ``purpose`` compares the request's purpose with strings or IRIs, written exactly.
  ``isA`` and ``isPartOf`` also accept narrower purposes and ``hasPart`` broader ones,
  following the context's ``purpose_hierarchy``; the set operators compare exactly.
- ``spatial`` compares the consumer's location with places (see ``hansa.policy.spatial``);
  ``isPartOf``/``hasPart`` and the set operators follow containment (Hamburg is in
  Germany is in the EU), ``eq``/``neq`` compare codes exactly.
"""

from __future__ import annotations

import operator as op_module
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hansa.policy.request import EvaluationRequest
from hansa.policy.results import Check, Outcome
from hansa.policy.spatial import Place, parse_place, within
from hansa.policy.values import (
    NUMERIC_TYPES,
    XSD_DATE,
    XSD_DATETIME,
    XSD_DURATION,
    Duration,
    Literal,
    format_datetime,
    looks_like_duration,
    parse_datetime,
    parse_duration,
    to_number,
    unwrap_literal,
)
from hansa.policy.vocabulary import ODRL, ORDERING, SET_OPERATORS, compact

FACT_MISSING = "policy.fact_missing"
REQUEST_INVALID = "policy.request_invalid"

COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "eq": op_module.eq,
    "neq": op_module.ne,
    "gt": op_module.gt,
    "gteq": op_module.ge,
    "lt": op_module.lt,
    "lteq": op_module.le,
}
OPERATOR_WORDS: Mapping[str, str] = {
    "eq": "is",
    "neq": "is not",
    "gt": "is greater than",
    "gteq": "is at least",
    "lt": "is less than",
    "lteq": "is at most",
    "isA": "is a",
    "isPartOf": "is part of",
    "hasPart": "includes",
    "isAllOf": "is all of",
    "isAnyOf": "is one of",
    "isNoneOf": "is none of",
}


def json_kind(value: Any) -> str:
    """The kind of a JSON value in words, for type-mismatch messages."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, datetime):
        return f"the date-time {format_datetime(value)}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "null" if value is None else type(value).__name__


def as_list(raw: Any) -> list[Any]:
    """A JSON-LD right operand as a list of values (``@list``/``@set``, a list, or one value)."""
    if isinstance(raw, Mapping):
        for key in ("@list", "@set"):
            if key in raw:
                inner = raw[key]
                return list(inner) if isinstance(inner, list) else [inner]
        return [raw]
    if isinstance(raw, list):
        return raw
    return [raw]


def verdict(ok: bool, actual: Any, detail: str) -> Check:
    """A satisfied or violated Check."""
    return Check(Outcome.SATISFIED if ok else Outcome.VIOLATED, actual, detail)


def missing(detail: str) -> Check:
    """An undetermined Check: the request lacks a fact this constraint needs."""
    return Check(Outcome.UNDETERMINED, None, detail, code=FACT_MISSING)


class LeftOperand(ABC):
    """One left operand: parses right operands, checks requests, speaks in words."""

    iri: str
    label: str
    operators: frozenset[str]

    @property
    def name(self) -> str:
        """The short name (``purpose``, ``hansa:complianceLevel``)."""
        return compact(self.iri)

    def parse_right(self, operator: str, raw: Any) -> Any:
        """The right operand, typed (a tuple for set operators); ValueError if it does not fit."""
        items = as_list(raw)
        if operator in SET_OPERATORS:
            if not items:
                raise ValueError(f"{operator} needs a non-empty list of values")
            return tuple(self.parse_value(operator, unwrap_literal(item)) for item in items)
        if len(items) != 1:
            raise ValueError(
                f"{operator} compares with one value, not a list (isAnyOf takes lists)"
            )
        return self.parse_value(operator, unwrap_literal(items[0]))

    @abstractmethod
    def parse_value(self, operator: str, literal: Literal) -> Any:
        """One right operand value, typed; ValueError saying what would fit."""

    @abstractmethod
    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        """Evaluate the constraint against the request."""

    def show(self, value: Any) -> str:
        """One expected value in words."""
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, Duration):
            return value.text
        if isinstance(value, Place):
            return value.code
        return str(value)

    def show_expected(self, expected: Any) -> str:
        """The right operand in words (a list joined by commas)."""
        if isinstance(expected, tuple):
            return ", ".join(self.show(v) for v in expected)
        return self.show(expected)

    def as_json(self, expected: Any) -> Any:
        """The right operand as plain JSON for a Decision."""
        if isinstance(expected, tuple):
            return [self.as_json(v) for v in expected]
        if isinstance(expected, bool | int | str):
            return expected
        if isinstance(expected, Duration):
            return expected.text
        if isinstance(expected, datetime):
            return format_datetime(expected)
        if isinstance(expected, Place):
            return expected.code
        if isinstance(expected, Decimal):
            return int(expected) if expected == expected.to_integral_value() else float(expected)
        return str(expected)

    def words(self, operator: str, expected: Any) -> str:
        """The constraint as a phrase: ``purpose is research``."""
        return f"{self.label} {OPERATOR_WORDS[operator]} {self.show_expected(expected)}"


class DateTimeOperand(LeftOperand):
    """``dateTime``: the request time against a date-time or a time after the agreement start."""

    iri = ODRL + "dateTime"
    label = "the date and time"
    operators = ORDERING

    def parse_value(self, operator: str, literal: Literal) -> Any:
        value = literal.value
        if literal.datatype == XSD_DURATION or (
            literal.datatype is None and looks_like_duration(value)
        ):
            if not isinstance(value, str):
                raise ValueError(f"an xsd:duration is written as text, not {json_kind(value)}")
            return parse_duration(value)
        if literal.datatype not in (None, XSD_DATETIME, XSD_DATE):
            raise ValueError(f"dateTime compares with an xsd:dateTime, not {literal.datatype}")
        if not isinstance(value, str):
            raise ValueError(
                "dateTime compares with a date-time such as '2027-01-01T00:00:00Z' or a "
                f"duration after the agreement start such as 'P30D', not {json_kind(value)}"
            )
        return parse_datetime(value)

    def show(self, value: Any) -> str:
        if isinstance(value, Duration):
            return f"{value.words()} after the agreement starts"
        return super().show(value)

    def words(self, operator: str, expected: Any) -> str:
        when = self.show(expected)
        return {
            "lt": f"before {when}",
            "lteq": f"until {when}",
            "gt": f"after {when}",
            "gteq": f"from {when} on",
            "eq": f"at exactly {when}",
            "neq": f"at any time but {when}",
        }[operator]

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        now = request.context.now
        seen = format_datetime(now)
        if isinstance(expected, Duration):
            start = request.context.agreement_start
            if start is None:
                return missing(
                    "the time is relative to the agreement start, but the request gives no "
                    "agreement start and the policy has no timestamp",
                )
            limit = expected.after(start)
            detail = (
                f"it is {seen}; the agreement started {format_datetime(start)}, "
                f"so the limit is {format_datetime(limit)}"
            )
        else:
            limit = expected
            detail = f"it is {seen}"
        return verdict(COMPARE[operator](now, limit), seen, detail)


class ElapsedTimeOperand(LeftOperand):
    """``elapsedTime``: the time since the agreement started against an xsd:duration."""

    iri = ODRL + "elapsedTime"
    label = "the time since the agreement started"
    operators = ORDERING

    def parse_value(self, operator: str, literal: Literal) -> Any:
        value = literal.value
        if literal.datatype not in (None, XSD_DURATION) or not isinstance(value, str):
            raise ValueError(
                f"elapsedTime compares with an xsd:duration such as 'P30D', not {json_kind(value)}"
            )
        return parse_duration(value)

    def words(self, operator: str, expected: Any) -> str:
        span = expected.words()
        return {
            "lt": f"less than {span} after the agreement starts",
            "lteq": f"within {span} of the agreement's start",
            "gt": f"more than {span} after the agreement starts",
            "gteq": f"once {span} have passed since the agreement started",
            "eq": f"exactly {span} after the agreement starts",
            "neq": f"at any time but exactly {span} after the agreement starts",
        }[operator]

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        start = request.context.agreement_start
        if start is None:
            return missing("the request gives no agreement start and the policy has no timestamp")
        now = request.context.now
        elapsed = Duration(0, max(now - start, timedelta(0)), "").words()
        end = expected.after(start)
        detail = (
            f"{elapsed} have passed since the agreement started {format_datetime(start)}; "
            f"{expected.words()} after it is {format_datetime(end)}"
        )
        return verdict(COMPARE[operator](now, end), elapsed, detail)


class CountOperand(LeftOperand):
    """``count``: the number of the use asked for (uses so far + 1) against a limit."""

    iri = ODRL + "count"
    label = "the number of uses"
    operators = ORDERING

    def parse_value(self, operator: str, literal: Literal) -> Any:
        value = literal.value
        if literal.datatype not in (None, *NUMERIC_TYPES) or isinstance(value, bool):
            raise ValueError(f"count compares with a whole number, not {json_kind(value)}")
        number = to_number(value)
        if number != number.to_integral_value() or number < 0:
            raise ValueError(f"count compares with a whole number of uses, not {value!r}")
        return int(number)

    def words(self, operator: str, expected: Any) -> str:
        return {
            "lteq": f"at most {expected} times",
            "lt": f"at most {expected - 1} times",
            "gt": f"only after {expected} uses",
            "gteq": f"from use number {expected} on",
            "eq": f"only as use number {expected}",
            "neq": f"except as use number {expected}",
        }[operator]

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        count = request.context.count
        if count is None:
            return missing("the request does not say how many uses were made so far")
        number = count + 1
        detail = f"this would be use number {number} ({count} made so far)"
        return verdict(COMPARE[operator](number, expected), number, detail)


class PurposeOperand(LeftOperand):
    """``purpose``: the purpose the request states, with an optional hierarchy."""

    iri = ODRL + "purpose"
    label = "purpose"
    operators = frozenset({"eq", "neq", "isA", "isPartOf", "hasPart", *SET_OPERATORS})

    def parse_value(self, operator: str, literal: Literal) -> Any:
        if not isinstance(literal.value, str) or not literal.value:
            raise ValueError(
                f"purpose compares with a purpose name or IRI, not {json_kind(literal.value)}"
            )
        return literal.value

    def words(self, operator: str, expected: Any) -> str:
        shown = self.show_expected(expected)
        if operator in ("isA", "isPartOf"):
            return f"purpose is {shown} or a narrower purpose"
        if operator == "hasPart":
            return f"purpose is {shown} or a broader purpose"
        return super().words(operator, expected)

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        purpose = request.context.purpose
        if purpose is None:
            return missing("the request does not say for which purpose")
        hierarchy = request.context.purpose_hierarchy
        detail = f"the request's purpose is {purpose}"
        if operator in ("isA", "isPartOf"):
            return verdict(expected in broader_purposes(purpose, hierarchy), purpose, detail)
        if operator == "hasPart":
            return verdict(purpose in broader_purposes(expected, hierarchy), purpose, detail)
        return verdict(set_or_compare(operator, {purpose}, expected), purpose, detail)


def broader_purposes(purpose: str, hierarchy: Mapping[str, Any]) -> set[str]:
    """The purpose and every broader purpose above it in the hierarchy."""
    found = {purpose}
    pending = [purpose]
    while pending:
        parents = hierarchy.get(pending.pop(), ())
        # A single broader purpose may be written as a string, not a one-item list.
        for parent in [parents] if isinstance(parents, str) else parents:
            if parent not in found:
                found.add(parent)
                pending.append(parent)
    return found


def set_or_compare(operator: str, actual: set[Any], expected: Any) -> bool:
    """Operators over a set of actual values, each held existentially.

    ``eq``/``hasPart``: some value equals; ``neq``: none equals; ``isAnyOf``: some value
    is in the list; ``isNoneOf``: none is; ``isAllOf``: every listed value is held.
    """
    if operator in ("eq", "hasPart"):
        return expected in actual
    if operator == "neq":
        return expected not in actual
    if operator == "isAnyOf":
        return bool(actual & set(expected))
    if operator == "isNoneOf":
        return not actual & set(expected)
    if operator == "isAllOf":
        return set(expected) <= actual
    raise ValueError(f"{operator} does not apply to a set of values")


class SpatialOperand(LeftOperand):
    """``spatial``: where the consumer is, as an ISO 3166 code, against places and regions."""

    iri = ODRL + "spatial"
    label = "the consumer's location"
    operators = frozenset({"eq", "neq", "isPartOf", "hasPart", *SET_OPERATORS})

    def parse_value(self, operator: str, literal: Literal) -> Any:
        if not isinstance(literal.value, str):
            raise ValueError(
                f"spatial compares with a place code such as 'DE', not {json_kind(literal.value)}"
            )
        return parse_place(literal.value)

    def words(self, operator: str, expected: Any) -> str:
        places = (
            ", ".join(p.words() for p in expected)
            if isinstance(expected, tuple)
            else expected.words()
        )
        return {
            "eq": f"the consumer's location is {places}",
            "neq": f"the consumer's location is not {places}",
            "isPartOf": f"the consumer is within {places}",
            "hasPart": f"the consumer's location includes {places}",
            "isAnyOf": f"the consumer is within one of {places}",
            "isAllOf": f"the consumer is within all of {places}",
            "isNoneOf": f"the consumer is within none of {places}",
        }[operator]

    def check(self, operator: str, expected: Any, request: EvaluationRequest) -> Check:
        where = request.context.spatial
        if where is None:
            return missing("the request does not say where the consumer is")
        try:
            place = parse_place(where)
        except ValueError as exc:
            return Check(Outcome.ERROR, where, f"the request's location: {exc}", REQUEST_INVALID)
        detail = f"the consumer is in {place.words()}"
        if operator == "eq":
            ok = place.code == expected.code
        elif operator == "neq":
            ok = place.code != expected.code
        elif operator == "isPartOf":
            ok = within(place, expected)
        elif operator == "hasPart":
            ok = within(expected, place)
        elif operator == "isAnyOf":
            ok = any(within(place, region) for region in expected)
        elif operator == "isAllOf":
            ok = all(within(place, region) for region in expected)
        else:  # isNoneOf
            ok = not any(within(place, region) for region in expected)
        return verdict(ok, place.code, detail)
