"""The clearing house's notary: checks registration numbers and attests them in credentials.

A check runs the offline tier first (:mod:`hansa.compliance.registration_numbers`: format
and check digits), then the online source the federation configured for the number's type
(:mod:`hansa.compliance.registration_sources`: VIES for VAT numbers, GLEIF for LEIs, the EU
EOS service for EORIs). Every step leaves an :class:`Evidence`; a step that fails raises,
so a :class:`RegistrationCheck` that is returned is a passed check. A source that cannot be
reached fails the check (``notary.source_unreachable``): nothing is ever attested on the
strength of a registry that did not answer.

The credential is a VC Data Model 2.0 ``vc+jwt`` in the shape of the Gaia-X notary's
(Loire, 25.x): ``type`` ``["VerifiableCredential", "gx:VatID"]``, a ``credentialSubject``
that is the Gaia-X registration-number object (``gx:vatID`` + ``gx:countryCode``,
``schema:leiCode`` + ``gx:countryCode`` / ``gx:subdivisionCountryCode``, ``gx:eori`` +
``gx:country``, ``gx:euid``, ``schema:taxID``, ``gx:local``, as the 25.11 shapes close them),
and one W3C ``evidence`` entry per source with Gaia-X's ``gx:evidenceOf``,
``gx:evidenceURL`` and ``gx:executionDate``.

Errors: those of the two tiers, and ``notary.country_mismatch`` (422) when GLEIF places an
LEI in another country than the declared one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pycountry

from hansa.compliance.registration_numbers import (
    OfflineCheck,
    RegistrationType,
    check_offline,
    country_name,
    normalise_country,
    parse_registration_type,
)
from hansa.compliance.registration_sources import (
    EoriClient,
    Evidence,
    GleifClient,
    NotarySources,
    ViesClient,
)
from hansa.errors import BadRequest, ConfigurationError, ValidationFailed
from hansa.fetch import GuardedClient
from hansa.identity.keys import PrivateKey
from hansa.identity.validity import format_datetime
from hansa.identity.vc_jose import CREDENTIALS_V2, issue_vc_jwt

__all__ = [
    "GX_CONTEXT",
    "REGISTRATION_CREDENTIAL_VALIDITY",
    "Notary",
    "RegistrationCheck",
    "registration_credential",
    "registration_subject",
]

GX_CONTEXT = "https://w3id.org/gaia-x/development#"
# The gx context names schema.org ``httpsschema:``; Gaia-X credentials write ``schema:``.
SCHEMA_PREFIX = {"schema": "https://schema.org/"}
#: How long an attestation stays valid: registries change, so it is renewed (as Gaia-X does).
REGISTRATION_CREDENTIAL_VALIDITY = timedelta(days=90)
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S{1,2040}")


@dataclass(frozen=True)
class RegistrationCheck:
    """A passed check of one registration number, with the evidence of each source."""

    type: RegistrationType
    number: str
    """Normalised: compact and upper case (Greek VAT numbers with ``EL``)."""
    country: str | None
    """ISO 3166-1 alpha-2 country the number is registered in, where known."""
    valid: bool
    evidence: tuple[Evidence, ...]
    subdivision: str | None = None
    """ISO 3166-2 subdivision (LEIs, from GLEIF's legal address), where known."""

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources that vouched for the number, offline tier first."""
        return tuple(e.source for e in self.evidence)

    def to_json(self) -> dict[str, Any]:
        """A JSON view (API answers, logs)."""
        return {
            "type": self.type.gx_type,
            "number": self.number,
            "country": self.country,
            "subdivision": self.subdivision,
            "valid": self.valid,
            "evidence": [
                {
                    "source": e.source,
                    "url": e.url,
                    "checkedAt": format_datetime(e.checked_at),
                    "answer": dict(e.answer),
                }
                for e in self.evidence
            ],
        }


def _offline_evidence(offline: OfflineCheck, now: datetime) -> Evidence:
    return Evidence(
        source=offline.method,
        checked_at=now,
        url=offline.reference,
        answer={"checked": offline.checked, "number": offline.number},
    )


def _subdivision(value: Any, country: str) -> str | None:
    """GLEIF's region as a Gaia-X subdivision code, if it is a real ISO 3166-2 code."""
    if not isinstance(value, str) or not value.startswith(f"{country}-"):
        return None
    known = pycountry.subdivisions.get(code=value)  # type: ignore[no-untyped-call]
    return value if known is not None else None


def lei_country(answer: dict[str, Any], declared: str | None) -> tuple[str, str | None]:
    """The country (and subdivision) of an LEI from GLEIF's answer, matched to ``declared``.

    The declared country must be the entity's legal-address or headquarters country.
    """
    legal = str(answer["legalAddressCountry"])
    headquarters = answer.get("headquartersAddressCountry")
    if declared is not None and declared not in {legal, headquarters}:
        where = f"legal address in {legal}" + (
            f", headquarters in {headquarters}" if headquarters else ""
        )
        raise ValidationFailed(
            f"GLEIF places LEI {answer['lei']} in another country ({where}) than the declared "
            f"country {declared}; declare the country of the entity's legal address",
            code="notary.country_mismatch",
            pointer="country",
            legalAddressCountry=legal,
            headquartersAddressCountry=headquarters,
        )
    return legal, _subdivision(answer.get("legalAddressRegion"), legal)


class Notary:
    """Checks registration numbers offline and with the configured registries; attests them."""

    def __init__(
        self,
        http: GuardedClient | None,
        sources: NotarySources | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        sources = sources or NotarySources()
        if http is None and (sources.vies_url or sources.gleif_url or sources.eori_url):
            raise ConfigurationError(
                "the notary has online sources configured but no HTTP client to reach them",
                code="notary.source_misconfigured",
            )
        self._clock = clock or (lambda: datetime.now(UTC))
        self.sources = sources
        self._vies = (
            ViesClient(http, sources.vies_url, clock=self._clock)
            if http is not None and sources.vies_url
            else None
        )
        self._gleif = (
            GleifClient(http, sources.gleif_url, clock=self._clock)
            if http is not None and sources.gleif_url
            else None
        )
        self._eori = (
            EoriClient(http, sources.eori_url, clock=self._clock)
            if http is not None and sources.eori_url
            else None
        )

    def check(
        self, type: RegistrationType | str, number: str, *, country: str | None = None
    ) -> RegistrationCheck:
        """Check ``number`` as a registration number of ``type`` (``vat-id``, ``gx:VatID``...).

        ``country`` is the participant's declared country (ISO 3166-1 alpha-2); it must agree
        with the number's own country, and for LEIs with GLEIF's record where GLEIF is asked.
        """
        kind = parse_registration_type(type)
        declared = normalise_country(country) if country else None
        offline = check_offline(kind, number, declared)
        result = RegistrationCheck(
            type=kind,
            number=offline.number,
            country=offline.country,
            valid=True,
            evidence=(_offline_evidence(offline, self._clock()),),
        )
        if kind is RegistrationType.VAT_ID and self._vies is not None:
            result = self._add(result, self._vies.check_vat(offline.number))
        elif kind is RegistrationType.LEI_CODE and self._gleif is not None:
            evidence = self._gleif.lei_record(offline.number)
            found, subdivision = lei_country(dict(evidence.answer), declared)
            result = replace(self._add(result, evidence), country=found, subdivision=subdivision)
        elif kind is RegistrationType.EORI and self._eori is not None:
            result = self._add(result, self._eori.check_eori(offline.number))
        return result

    @staticmethod
    def _add(result: RegistrationCheck, evidence: Evidence) -> RegistrationCheck:
        return replace(result, evidence=(*result.evidence, evidence))

    def issue_registration_credential(
        self,
        check: RegistrationCheck,
        subject_id: str,
        *,
        issuer_did: str,
        private_key: PrivateKey,
        kid: str,
        credential_id: str | None = None,
    ) -> str:
        """The ``vc+jwt`` attesting ``check`` for ``subject_id``, signed by ``kid``."""
        now = self._clock()
        credential = registration_credential(
            check,
            subject_id,
            issuer_did,
            credential_id=credential_id,
            valid_from=now,
            valid_until=now + REGISTRATION_CREDENTIAL_VALIDITY,
        )
        return issue_vc_jwt(credential, private_key, kid, now=now)


def _check_iri(value: str, name: str) -> None:
    if not isinstance(value, str) or not _IRI.fullmatch(value):
        raise BadRequest(
            f"{name} must be an absolute IRI (a DID, URL or urn:), not {str(value)[:60]!r}",
            code="notary.invalid_subject" if name == "subjectId" else "notary.invalid_vc_id",
            pointer=f"query:{name}",
        )


def registration_subject(check: RegistrationCheck, subject_id: str) -> dict[str, Any]:
    """The Gaia-X registration-number object of ``check`` (closed 25.11 shapes)."""
    _check_iri(subject_id, "subjectId")
    kind = check.type
    subject: dict[str, Any] = {"id": subject_id, "type": kind.gx_type}
    if kind is RegistrationType.VAT_ID:
        subject["gx:vatID"] = check.number
        if check.country:
            subject["gx:countryCode"] = check.country
    elif kind is RegistrationType.LEI_CODE:
        subject["schema:leiCode"] = check.number
        if check.country:
            subject["gx:countryCode"] = check.country
        if check.subdivision:
            subject["gx:subdivisionCountryCode"] = check.subdivision
    elif kind is RegistrationType.EORI:
        subject["gx:eori"] = check.number
        if check.country:
            subject["gx:country"] = country_name(check.country)
    elif kind is RegistrationType.EUID:
        subject["gx:euid"] = check.number
    elif kind is RegistrationType.TAX_ID:
        subject["schema:taxID"] = check.number
    else:
        subject["gx:local"] = check.number
    return subject


def _evidence_entry(kind: RegistrationType, evidence: Evidence) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": ["Evidence"],
        "gx:evidenceOf": kind.gx_type,
        "gx:executionDate": format_datetime(evidence.checked_at),
    }
    if evidence.url:
        entry["gx:evidenceURL"] = evidence.url
    if evidence.source in {"stdnum", "format"}:
        entry["description"] = f"offline check ({evidence.source}): {evidence.answer['checked']}"
    else:
        entry["description"] = f"confirmed by {evidence.source}"
    return entry


def registration_credential(
    check: RegistrationCheck,
    subject_id: str,
    issuer_did: str,
    *,
    credential_id: str | None,
    valid_from: datetime,
    valid_until: datetime,
) -> dict[str, Any]:
    """The unsigned VCDM 2.0 credential attesting ``check`` (pure)."""
    if not check.valid:
        raise ValidationFailed(
            f"{check.number} did not pass its check; a failed check is never attested",
            code="notary.invalid_number",
            pointer="number",
        )
    if credential_id is not None:
        _check_iri(credential_id, "vcId")
    subject = registration_subject(check, subject_id)
    context: list[Any] = [CREDENTIALS_V2, GX_CONTEXT]
    if any(key.startswith("schema:") for key in subject):
        context.append(SCHEMA_PREFIX)
    return {
        "@context": context,
        "id": credential_id or f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", check.type.gx_type],
        "issuer": issuer_did,
        "validFrom": format_datetime(valid_from),
        "validUntil": format_datetime(valid_until),
        "credentialSubject": subject,
        "evidence": [_evidence_entry(check.type, e) for e in check.evidence],
    }
