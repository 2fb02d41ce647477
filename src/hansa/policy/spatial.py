"""Places for the ``spatial`` left operand: ISO 3166-1 countries, ISO 3166-2 subdivisions, groups.

A place is written as an ISO 3166-1 alpha-2 code (``DE``; alpha-3 ``DEU`` is accepted
and turned into ``DE``), an ISO 3166-2 subdivision code (``DE-HH``, ``FR-75C``) or a
group: ``EU`` (the 27 member states) or ``EEA`` (the EU plus Iceland, Liechtenstein
and Norway). An IRI whose last segment is such a code (``http://example.org/EU``,
``_:EU``, an EU authority table IRI ending in ``/DEU``) names that code, because DSP
examples write places that way.

Containment: a subdivision lies in its parent subdivision (``FR-75C`` in ``FR-IDF``)
and its country, a country lies in the groups it belongs to, and the EU lies in the
EEA. Every code is checked against pycountry, so a typo is refused, not compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pycountry

EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
EEA = EU | {"IS", "LI", "NO"}
GROUPS: dict[str, tuple[str, frozenset[str]]] = {
    "EU": ("the European Union", EU),
    "EEA": ("the European Economic Area", EEA),
}
# Groups that lie inside other groups (every EU state is in the EEA).
GROUP_PARENTS: dict[str, tuple[str, ...]] = {"EU": ("EEA",), "EEA": ()}

_LAST_SEGMENT = re.compile(r"[/#:]([A-Za-z0-9-]+)$")


def _subdivision(code: str) -> Any:
    return pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]


def _country(code: str) -> Any:
    if len(code) == 2:
        return pycountry.countries.get(alpha_2=code)
    return pycountry.countries.get(alpha_3=code)


@dataclass(frozen=True)
class Place:
    """A validated place code and its name."""

    code: str
    kind: str  # "country", "subdivision" or "group"
    name: str

    def words(self) -> str:
        """``Germany (DE)``."""
        return f"{self.name} ({self.code})"


def parse_place(text: str) -> Place:
    """A place code (or an IRI ending in one) as a Place; ValueError if no such place exists."""
    candidate = text.strip()
    match = _LAST_SEGMENT.search(candidate)
    if match and ("/" in candidate or candidate.startswith("_:") or "#" in candidate):
        candidate = match.group(1)
    code = candidate.upper()
    if code in GROUPS:
        return Place(code, "group", GROUPS[code][0])
    if "-" in code:
        subdivision = _subdivision(code)
        if subdivision is None:
            raise ValueError(f"{text!r} is not an ISO 3166-2 subdivision code such as 'DE-HH'")
        return Place(subdivision.code, "subdivision", subdivision.name)
    country = _country(code) if len(code) in (2, 3) else None
    if country is None:
        raise ValueError(
            f"{text!r} is not an ISO 3166-1 country code such as 'DE', "
            "an ISO 3166-2 code such as 'DE-HH', or one of the groups EU, EEA"
        )
    return Place(country.alpha_2, "country", country.name)


def containers(place: Place) -> frozenset[str]:
    """The codes of every place that contains ``place``, itself included."""
    found = {place.code}
    if place.kind == "group":
        pending = [place.code]
        while pending:
            for parent in GROUP_PARENTS.get(pending.pop(), ()):
                if parent not in found:
                    found.add(parent)
                    pending.append(parent)
        return frozenset(found)
    country = place.code
    if place.kind == "subdivision":
        subdivision = _subdivision(place.code)
        while subdivision is not None and subdivision.parent_code:
            found.add(subdivision.parent_code)
            subdivision = _subdivision(subdivision.parent_code)
        country = place.code.split("-", 1)[0]
        found.add(country)
    for group, (_, members) in GROUPS.items():
        if country in members:
            found.add(group)
    return frozenset(found)


def within(inner: Place, outer: Place) -> bool:
    """Whether ``inner`` lies in ``outer`` (a place lies within itself)."""
    return outer.code in containers(inner)
