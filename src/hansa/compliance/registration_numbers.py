"""The offline tier of the notary: what a registration number's own digits can prove.

Every check here is pure (no network, no clock) and runs before any online source is
asked, so a mistyped number is refused at once with a message that says what is wrong.

What is checked, per Gaia-X registration-number class:

- ``gx:VatID``: the VAT number of every EU member state and Northern Ireland (``XI``),
  with python-stdnum's ``stdnum.eu.vat``: prefix, length, format and check digits. Greece
  is written ``EL`` in VAT numbers (``GR`` is accepted on input and normalised to ``EL``);
  the ISO 3166-1 country is ``GR`` (and ``GB`` for ``XI``).
- ``gx:LeiCode``: ISO 17442, with ``stdnum.lei`` (20 characters, ISO 7064 Mod 97-10).
  An LEI does not encode a country; only GLEIF can say where the entity is.
- ``gx:EORI``: python-stdnum has no EORI module. An EORI is a two-letter country code and a
  national identifier of up to 15 letters or digits; the prefix must be an EU member state
  (Greece as ``GR`` or ``EL``) or ``XI``. Where a member state builds the national part from
  a number python-stdnum knows, and the national part has that number's shape, its check
  digits are checked too: ``FR`` + SIRET (14 digits), ``IT`` + partita IVA (11 digits),
  ``BE`` + enterprise number (10 digits), ``ES`` + NIF (9 characters). Other national parts
  (e.g. Germany's customs numbers) have no public check digits: format only.
- ``gx:EUID``: format only (the BRIS form ``<country><register>.<number>``, e.g.
  ``DEK1101R.HRB116737``, with an EEA country prefix). BRIS is not queried.
- ``gx:TaxID``, ``gx:LocalRegistrationNumber``: format only (1-64 letters, digits and
  ``space . / -``): their rules differ by country and registry.

Errors: ``notary.unsupported_type`` (400), ``notary.invalid_number`` (422),
``notary.country_mismatch`` (422), ``notary.invalid_country`` (422).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pycountry
from stdnum import exceptions as stdnum_errors
from stdnum import lei as stdnum_lei
from stdnum.be import vat as stdnum_be_vat
from stdnum.es import nif as stdnum_es_nif
from stdnum.eu import vat as stdnum_eu_vat
from stdnum.fr import siret as stdnum_fr_siret
from stdnum.it import iva as stdnum_it_iva

from hansa.errors import BadRequest, ValidationFailed

__all__ = [
    "EEA_COUNTRIES",
    "EU_COUNTRIES",
    "OfflineCheck",
    "RegistrationType",
    "check_offline",
    "country_name",
    "iso_country",
    "normalise_country",
    "parse_registration_type",
]

STDNUM_VERSION = "2"
STDNUM_DOC = "https://arthurdejong.org/python-stdnum/doc/"


class RegistrationType(StrEnum):
    """The Gaia-X 25.11 registration-number classes (``gx:`` local names)."""

    VAT_ID = "VatID"
    LEI_CODE = "LeiCode"
    EORI = "EORI"
    EUID = "EUID"
    TAX_ID = "TaxID"
    LOCAL = "LocalRegistrationNumber"

    @property
    def gx_type(self) -> str:
        """The compact JSON-LD type, e.g. ``gx:VatID``."""
        return f"gx:{self.value}"

    @property
    def slug(self) -> str:
        """The path segment of the Gaia-X notary API, e.g. ``vat-id``."""
        return _SLUGS[self]


_SLUGS: dict[RegistrationType, str] = {
    RegistrationType.VAT_ID: "vat-id",
    RegistrationType.LEI_CODE: "lei-code",
    RegistrationType.EORI: "eori",
    RegistrationType.EUID: "euid",
    RegistrationType.TAX_ID: "tax-id",
    RegistrationType.LOCAL: "local",
}
_BY_NAME: dict[str, RegistrationType] = {}
for _type in RegistrationType:
    for _name in (_type.value, _type.gx_type, _type.slug):
        _BY_NAME[_name.lower()] = _type
# The property names are accepted too (``vatID``, ``leiCode`` ...), as clients send them.
for _alias, _type in {
    "vatid": RegistrationType.VAT_ID,
    "gx:vatid": RegistrationType.VAT_ID,
    "leicode": RegistrationType.LEI_CODE,
    "schema:leicode": RegistrationType.LEI_CODE,
    "taxid": RegistrationType.TAX_ID,
    "schema:taxid": RegistrationType.TAX_ID,
    "gx:local": RegistrationType.LOCAL,
}.items():
    _BY_NAME[_alias] = _type


def parse_registration_type(value: str | RegistrationType) -> RegistrationType:
    """``vat-id``, ``VatID`` or ``gx:VatID`` -> :attr:`RegistrationType.VAT_ID`."""
    if isinstance(value, RegistrationType):
        return value
    found = _BY_NAME.get(str(value).strip().lower())
    if found is None:
        known = ", ".join(f"{t.slug} ({t.gx_type})" for t in RegistrationType)
        raise BadRequest(
            f"registration-number type {str(value)[:40]!r} is not supported; use one of {known}",
            code="notary.unsupported_type",
            pointer="type",
        )
    return found


# --- countries -------------------------------------------------------------------------------

# python-stdnum lists the member states by VAT prefix; "xi" (Northern Ireland) is not one.
EU_COUNTRIES: frozenset[str] = frozenset(
    c.upper() for c in stdnum_eu_vat.MEMBER_STATES if c != "xi"
)
EEA_COUNTRIES: frozenset[str] = EU_COUNTRIES | {"IS", "LI", "NO"}
# Prefixes that are not ISO 3166-1 codes: Greece's VAT/EORI "EL" and Northern Ireland's "XI".
_PREFIX_TO_ISO = {"EL": "GR", "XI": "GB"}


def iso_country(prefix: str) -> str:
    """The ISO 3166-1 alpha-2 code of a VAT/EORI country prefix (``EL`` -> ``GR``)."""
    prefix = prefix.upper()
    return _PREFIX_TO_ISO.get(prefix, prefix)


def normalise_country(value: str, pointer: str = "country") -> str:
    """A declared country as an ISO 3166-1 alpha-2 code (``el``/``EL`` -> ``GR``)."""
    code = iso_country(value.strip())
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValidationFailed(
            f"country {value[:20]!r} is not an ISO 3166-1 alpha-2 code (e.g. DE, FR, GR)",
            code="notary.invalid_country",
            pointer=pointer,
        )
    return code


def country_name(code: str) -> str:
    """The English name of an ISO country (``gx:country`` of an EORI is written this way)."""
    if code.upper() == "XI":
        return "United Kingdom (Northern Ireland)"
    country = pycountry.countries.get(alpha_2=iso_country(code))
    return str(country.name) if country is not None else code


# --- the checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineCheck:
    """What the offline tier established about one number."""

    type: RegistrationType
    number: str
    """The normalised number (compact, upper case; Greek VAT numbers with ``EL``)."""
    country: str | None
    """ISO 3166-1 alpha-2 country the number belongs to, if the number says so."""
    method: str
    """``stdnum`` (check digits verified) or ``format`` (format only)."""
    checked: str
    """What exactly was checked, in words (kept as evidence)."""
    reference: str | None = None
    """Where the check's rules are documented."""


def _invalid(kind: RegistrationType, number: str, problem: str) -> ValidationFailed:
    return ValidationFailed(
        f"{number[:40]!r} is not a valid {kind.gx_type} number: {problem}",
        code="notary.invalid_number",
        pointer="number",
        registrationType=kind.gx_type,
    )


def _stdnum_problem(exc: stdnum_errors.ValidationError) -> str:
    if isinstance(exc, stdnum_errors.InvalidChecksum):
        return "its check digits are wrong (mistyped?)"
    if isinstance(exc, stdnum_errors.InvalidLength):
        return "it has the wrong number of characters"
    if isinstance(exc, stdnum_errors.InvalidComponent):
        return "a part of it is unknown (check the country prefix)"
    return "its characters do not have the required format"


def _compact(number: str) -> str:
    return re.sub(r"[\s.\-/:]", "", number).upper()


def _check_vat(number: str) -> OfflineCheck:
    kind = RegistrationType.VAT_ID
    compact = _compact(number)
    prefix = compact[:2]
    if not re.fullmatch(r"[A-Z]{2}", prefix):
        raise _invalid(kind, number, "it must start with the two-letter country prefix (DE, EL...)")
    if prefix == "GR":
        compact = "EL" + compact[2:]
        prefix = "EL"
    if prefix.lower() not in stdnum_eu_vat.MEMBER_STATES and prefix != "EL":
        raise _invalid(kind, number, f"{prefix} is not an EU VAT prefix (EU member states, EL, XI)")
    try:
        stdnum_eu_vat.validate(compact)
    except stdnum_errors.ValidationError as exc:
        raise _invalid(kind, number, _stdnum_problem(exc)) from exc
    return OfflineCheck(
        type=kind,
        number=compact,
        country=iso_country(prefix),
        method="stdnum",
        checked=f"format and check digits of a {prefix} VAT number",
        reference=f"{STDNUM_DOC}{STDNUM_VERSION}/stdnum.eu.vat",
    )


def _check_lei(number: str) -> OfflineCheck:
    kind = RegistrationType.LEI_CODE
    compact = _compact(number)
    # stdnum.lei checks the Mod 97-10 digits of any length; ISO 17442 fixes the length too.
    if not re.fullmatch(r"[A-Z0-9]{18}[0-9]{2}", compact):
        raise _invalid(
            kind, number, "it must have 20 characters: 18 letters or digits and 2 check digits"
        )
    try:
        stdnum_lei.validate(compact)
    except stdnum_errors.ValidationError as exc:
        raise _invalid(kind, number, _stdnum_problem(exc)) from exc
    return OfflineCheck(
        type=kind,
        number=compact,
        country=None,
        method="stdnum",
        checked="ISO 17442 format and ISO 7064 Mod 97-10 check digits",
        reference=f"{STDNUM_DOC}{STDNUM_VERSION}/stdnum.lei",
    )


# EORI national parts that are a number python-stdnum can check, with that number's shape.
_EORI_NATIONAL: dict[str, tuple[str, str, Callable[[str], Any], str]] = {
    "FR": (r"\d{14}", "SIRET", stdnum_fr_siret.validate, "stdnum.fr.siret"),
    "IT": (r"\d{11}", "partita IVA", stdnum_it_iva.validate, "stdnum.it.iva"),
    "BE": (r"\d{10}", "enterprise number", stdnum_be_vat.validate, "stdnum.be.vat"),
    "ES": (r"[A-Z0-9]\d{7}[A-Z0-9]", "NIF", stdnum_es_nif.validate, "stdnum.es.nif"),
}


def _check_eori(number: str) -> OfflineCheck:
    kind = RegistrationType.EORI
    compact = _compact(number)
    match = re.fullmatch(r"([A-Z]{2})([A-Z0-9]{1,15})", compact)
    if match is None:
        raise _invalid(
            kind,
            number,
            "an EORI is a two-letter country code and up to 15 letters or digits",
        )
    prefix, national = match.groups()
    country = iso_country(prefix)
    if country not in EU_COUNTRIES and prefix != "XI":
        raise _invalid(kind, number, f"{prefix} is not an EU member state (or XI)")
    rule = _EORI_NATIONAL.get(prefix)
    if rule is not None and re.fullmatch(rule[0], national):
        _shape, name, validate, module = rule
        try:
            validate(national)
        except stdnum_errors.ValidationError as exc:
            raise _invalid(
                kind,
                number,
                f"its national part is the {prefix} {name}, and {_stdnum_problem(exc)}",
            ) from exc
        return OfflineCheck(
            type=kind,
            number=compact,
            country=country,
            method="stdnum",
            checked=f"EORI format and the check digits of its {prefix} {name}",
            reference=f"{STDNUM_DOC}{STDNUM_VERSION}/{module}",
        )
    return OfflineCheck(
        type=kind,
        number=compact,
        country=country,
        method="format",
        checked="EORI format (country code + up to 15 letters or digits); "
        "the national part has no public check digits",
    )


def _check_euid(number: str) -> OfflineCheck:
    kind = RegistrationType.EUID
    compact = re.sub(r"\s", "", number).upper()
    match = re.fullmatch(r"([A-Z]{2})[A-Z0-9]{1,20}\.[A-Z0-9][A-Z0-9./\-]{0,40}", compact)
    if match is None:
        raise _invalid(
            kind,
            number,
            "an EUID is <country><register id>.<registration number>, e.g. DEK1101R.HRB116737",
        )
    country = iso_country(match.group(1))
    if country not in EEA_COUNTRIES:
        raise _invalid(kind, number, f"{match.group(1)} is not an EEA country")
    return OfflineCheck(
        type=kind,
        number=compact,
        country=country,
        method="format",
        checked="EUID format (BRIS: EEA country, register id, registration number)",
    )


def _check_free_form(kind: RegistrationType, number: str) -> OfflineCheck:
    text = " ".join(number.split())
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ./\-]{0,63}", text):
        raise _invalid(kind, number, "use 1-64 letters, digits, spaces, '.', '/' or '-'")
    return OfflineCheck(
        type=kind,
        number=text,
        country=None,
        method="format",
        checked="format only (letters, digits, space . / -; at most 64 characters)",
    )


def check_offline(
    kind: RegistrationType | str, number: str, country: str | None = None
) -> OfflineCheck:
    """Check ``number`` as a registration number of ``kind`` without any network access.

    ``country`` is the participant's declared country (ISO 3166-1 alpha-2, ``EL`` accepted);
    where the number carries a country (VAT, EORI, EUID) the two must agree. The returned
    check's ``country`` is the number's country, or the declared one where the number has none.
    """
    kind = parse_registration_type(kind)
    if not isinstance(number, str) or not number.strip():
        raise _invalid(kind, str(number), "it is empty")
    if len(number) > 100:
        raise _invalid(kind, number, "it is longer than 100 characters")
    declared = normalise_country(country) if country else None
    if kind is RegistrationType.VAT_ID:
        result = _check_vat(number)
    elif kind is RegistrationType.LEI_CODE:
        result = _check_lei(number)
    elif kind is RegistrationType.EORI:
        result = _check_eori(number)
    elif kind is RegistrationType.EUID:
        result = _check_euid(number)
    else:
        result = _check_free_form(kind, number)
    if declared is not None:
        if result.country is not None and result.country != declared:
            raise ValidationFailed(
                f"{result.number} is a {kind.gx_type} of {result.country}, but the declared "
                f"country is {declared}; declare the country the number was issued in",
                code="notary.country_mismatch",
                pointer="country",
            )
        if result.country is None:
            result = OfflineCheck(
                type=result.type,
                number=result.number,
                country=declared,
                method=result.method,
                checked=result.checked,
                reference=result.reference,
            )
    return result
