"""XML Schema values that policies compare: dateTime, duration, numbers, plain literals."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from hansa.policy.vocabulary import XSD, expand

XSD_DATETIME = XSD + "dateTime"
XSD_DATE = XSD + "date"
XSD_DURATION = XSD + "duration"
XSD_INTEGER = XSD + "integer"
XSD_DECIMAL = XSD + "decimal"
XSD_DOUBLE = XSD + "double"
XSD_BOOLEAN = XSD + "boolean"
XSD_STRING = XSD + "string"
NUMERIC_TYPES = frozenset(
    {XSD_INTEGER, XSD_DECIMAL, XSD_DOUBLE, XSD + "int", XSD + "long", XSD + "nonNegativeInteger"}
)

_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?!$)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DATE_ONLY = re.compile(r"^\d{4,}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Literal:
    """A right operand value as written: the JSON value and its declared datatype, if any."""

    value: Any
    datatype: str | None = None
    is_iri: bool = False

    def text(self) -> str:
        """The value as a person would read it."""
        return str(self.value)


@dataclass(frozen=True)
class Duration:
    """An xsd:duration, kept as months plus an exact time span so calendars add up right."""

    months: int
    span: timedelta
    text: str

    def after(self, start: datetime) -> datetime:
        """The instant this duration after ``start`` (months by the calendar, clamped)."""
        month_index = start.month - 1 + self.months
        year = start.year + month_index // 12
        month = month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + self.span

    def words(self) -> str:
        """``30 days``, ``1 year 2 months``: the duration in words."""
        parts: list[str] = []
        years, months = divmod(self.months, 12)
        seconds = int(self.span.total_seconds())
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        for amount, unit in (
            (years, "year"),
            (months, "month"),
            (days, "day"),
            (hours, "hour"),
            (minutes, "minute"),
            (secs, "second"),
        ):
            if amount:
                parts.append(f"{amount} {unit}{'s' if amount != 1 else ''}")
        return " ".join(parts) or "no time"


def parse_duration(text: str) -> Duration:
    """Parse a non-negative xsd:duration (``P30D``, ``P1Y2M``, ``PT12H``); ValueError if not one."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an xsd:duration such as 'P30D' or 'PT12H'")
    years, months, weeks, days, hours, minutes, seconds = match.groups()
    span = timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=float(seconds or 0),
    )
    return Duration(months=int(years or 0) * 12 + int(months or 0), span=span, text=text)


def parse_datetime(text: str) -> datetime:
    """Parse an xsd:dateTime with a zone (an xsd:date means its first instant, UTC)."""
    if _DATE_ONLY.match(text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an xsd:dateTime such as '2027-01-01T00:00:00Z'"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add 'Z' or an offset such as '+01:00'")
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """``2027-01-01T00:00:00Z``: UTC, second precision."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def looks_like_duration(value: Any) -> bool:
    """Whether a plain string is written as an xsd:duration (starts with ``P``)."""
    return isinstance(value, str) and value.startswith("P") and bool(_DURATION.match(value))


def to_number(value: Any) -> Decimal:
    """A JSON number or a numeric string as a Decimal; ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if number.is_finite():
            return number
    raise ValueError(f"{value!r} is not a number")


def unwrap_literal(raw: Any) -> Literal:
    """A JSON-LD value (plain, ``{"@value", "@type"}`` or ``{"@id"}``) as a Literal.

    Raises ValueError for objects that are neither.
    """
    if isinstance(raw, Mapping):
        if "@value" in raw:
            datatype = raw.get("@type")
            return Literal(raw["@value"], expand(datatype) if isinstance(datatype, str) else None)
        if isinstance(raw.get("@id"), str):
            return Literal(raw["@id"], None, is_iri=True)
        raise ValueError("an object right operand must be {'@value': ...} or {'@id': ...}")
    if isinstance(raw, list | tuple):
        raise ValueError("a list is not a single value")
    return Literal(raw)
