"""The values policies compare: durations, date-times and places."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hansa.policy.spatial import containers, parse_place, within
from hansa.policy.values import Duration, parse_datetime, parse_duration


@pytest.mark.parametrize(
    ("text", "months", "span"),
    [
        ("P30D", 0, timedelta(days=30)),
        ("P1Y2M", 14, timedelta(0)),
        ("P2W", 0, timedelta(weeks=2)),
        ("PT12H30M", 0, timedelta(hours=12, minutes=30)),
        ("PT0.5S", 0, timedelta(seconds=0.5)),
        ("P1DT1H", 0, timedelta(days=1, hours=1)),
    ],
)
def test_durations(text: str, months: int, span: timedelta) -> None:
    duration = parse_duration(text)
    assert (duration.months, duration.span, duration.text) == (months, span, text)


@pytest.mark.parametrize("text", ["P", "PT", "30D", "-P1D", "P1H", "P1.5D", "", "P1DT"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="xsd:duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("start", "duration", "end"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), "P1M", datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), "P1M", datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 11, 15, tzinfo=UTC), "P3M", datetime(2027, 2, 15, tzinfo=UTC)),
        (datetime(2026, 1, 1, tzinfo=UTC), "P1Y1DT1H", datetime(2027, 1, 2, 1, tzinfo=UTC)),
    ],
)
def test_durations_add_by_the_calendar(start: datetime, duration: str, end: datetime) -> None:
    assert parse_duration(duration).after(start) == end


def test_duration_words() -> None:
    assert (
        parse_duration("P1Y2M3DT4H5M6S").words()
        == "1 year 2 months 3 days 4 hours 5 minutes 6 seconds"
    )
    assert Duration(0, timedelta(0), "").words() == "no time"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2027-01-01T00:00:00Z", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2023-12-31T06:00Z", datetime(2023, 12, 31, 6, tzinfo=UTC)),
        ("2027-01-01T02:00:00+02:00", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-01-01", datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_datetimes(text: str, parsed: datetime) -> None:
    assert parse_datetime(text) == parsed


@pytest.mark.parametrize(
    ("text", "phrase"), [("2027-01-01T00:00:00", "time zone"), ("soon", "xsd:dateTime")]
)
def test_not_datetimes(text: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        parse_datetime(text)


@pytest.mark.parametrize(
    ("text", "code", "kind"),
    [
        ("DE", "DE", "country"),
        ("deu", "DE", "country"),
        ("DE-HH", "DE-HH", "subdivision"),
        ("fr-75c", "FR-75C", "subdivision"),
        ("EU", "EU", "group"),
        ("eea", "EEA", "group"),
        ("http://example.org/EU", "EU", "group"),
        ("_:EU", "EU", "group"),
        ("http://publications.europa.eu/resource/authority/country/DEU", "DE", "country"),
    ],
)
def test_places(text: str, code: str, kind: str) -> None:
    place = parse_place(text)
    assert (place.code, place.kind) == (code, kind)


@pytest.mark.parametrize("text", ["XX", "DE-XX", "Germany", "D", "http://example.org/Atlantis", ""])
def test_not_places(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 3166"):
        parse_place(text)


def test_containment() -> None:
    assert containers(parse_place("FR-75C")) == {"FR-75C", "FR-IDF", "FR", "EU", "EEA"}
    assert containers(parse_place("NO")) == {"NO", "EEA"}
    assert containers(parse_place("US")) == {"US"}
    assert containers(parse_place("EU")) == {"EU", "EEA"}
    assert within(parse_place("DE-HH"), parse_place("DE"))
    assert not within(parse_place("DE"), parse_place("DE-HH"))
    assert not within(parse_place("CH"), parse_place("EEA"))
