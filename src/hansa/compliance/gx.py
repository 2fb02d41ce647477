"""Gaia-X 25.11 credentials: plain builders for the participant side, and signing.

Each builder returns an unsigned VC Data Model 2.0 credential (a JSON dict) whose subject
conforms to the official 25.11 shapes when the arguments do; each checks what a person gets
wrong (a country code that is not ISO 3166, a hash that is not SHA-256) with its own error
code, and leaves the rest to the shapes (:mod:`hansa.compliance.shapes`).

Conventions, as in Gaia-X's own examples: ``@context`` is the VCDM 2.0 context plus the
``gx:`` namespace (``https://w3id.org/gaia-x/development#``, which Hansa ships a copy of);
Gaia-X properties are written ``gx:name``; schema.org's ``name`` and ``description`` use the
terms both contexts define; nested objects carry their ``type`` (the shapes check
``sh:class``); ``xsd:anyURI`` values are JSON-LD value objects.

Offerings and resources are in :mod:`hansa.compliance.gx_offerings`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pycountry

from hansa.errors import BadRequest
from hansa.identity.keys import PrivateKey
from hansa.identity.vc_jose import issue_vc_jwt

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
GX = "https://w3id.org/gaia-x/development#"
GX_CONTEXT = GX
CONTEXT: tuple[str, ...] = (CREDENTIALS_V2, GX_CONTEXT)
# The gx context names schema.org 'httpsschema:'; Gaia-X credentials write 'schema:' (the
# notary does the same), so credentials with schema: keys add this prefix.
SCHEMA_PREFIX: Mapping[str, str] = {"schema": "https://schema.org/"}

#: SHA-256 of the Gaia-X terms and conditions the official 25.11 IssuerShape accepts.
GAIAX_TERMS_AND_CONDITIONS_HASHES = (
    "067dcac5efd18c1927deb1ffed3feab6d0ad044c0a9a263e6d5d8bdc43224515",
    "4bd7554097444c960292b4726c2efa1373485e8a5565d94d41195214c5e0ceb3",
)
LABEL_LEVELS = ("SC", "L1", "L2", "L3")
REGISTRATION_TYPES = ("VatID", "LeiCode", "EORI", "EUID", "TaxID", "LocalRegistrationNumber")

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_NUTS2 = re.compile(r"^[A-Z]{2}[0-9A-Z]{2}$")


def gx_error(detail: str, code: str, pointer: str) -> BadRequest:
    return BadRequest(detail, code=code, pointer=pointer)


def iri(value: str, field: str) -> str:
    """``value`` if it is an absolute IRI (a URL, DID or URN), else ``gx.invalid_iri``."""
    if not isinstance(value, str) or not _IRI.match(value):
        raise gx_error(
            f"{field} must be an absolute IRI (https://..., did:..., urn:...), not {value!r}",
            "gx.invalid_iri",
            field,
        )
    return value


def any_uri(value: str, field: str) -> dict[str, str]:
    """An ``xsd:anyURI`` literal (the shapes require the datatype, not a plain string)."""
    return {"@value": iri(value, field), "@type": "xsd:anyURI"}


def reference(value: str, field: str) -> dict[str, str]:
    """A link to a node described elsewhere (e.g. the subject of another credential)."""
    return {"id": iri(value, field)}


def country_code(code: str, field: str = "countryCode") -> str:
    """An ISO 3166-1 country code (alpha-2 preferred; alpha-3 and numeric accepted), checked."""
    text = code.strip().upper() if isinstance(code, str) else ""
    country = None
    if len(text) == 2 and text.isalpha():
        country = pycountry.countries.get(alpha_2=text)
    elif len(text) == 3 and text.isalpha():
        country = pycountry.countries.get(alpha_3=text)
    elif text.isdigit():
        country = pycountry.countries.get(numeric=text.zfill(3))
    if country is None:
        raise gx_error(
            f"{code!r} is not an ISO 3166-1 country code; use the alpha-2 code, e.g. DE, FR, NL",
            "gx.invalid_country_code",
            field,
        )
    return text


@lru_cache(maxsize=1)
def _subdivision_codes() -> frozenset[str]:
    return frozenset(sub.code for sub in pycountry.subdivisions)


def subdivision_code(code: str, field: str = "subdivisionCountryCode") -> str:
    """An ISO 3166-2 subdivision code such as ``DE-BE``, checked with pycountry."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if text not in _subdivision_codes():
        raise gx_error(
            f"{code!r} is not an ISO 3166-2 subdivision code; write country-subdivision, "
            "e.g. DE-BE (Berlin), FR-75C (Paris)",
            "gx.invalid_subdivision_code",
            field,
        )
    return text


def sha256_hex(value: str, field: str) -> str:
    """``value`` if it is a SHA-256 digest in lower-case hex, else ``gx.invalid_hash``."""
    if not isinstance(value, str) or not _SHA256_HEX.match(value):
        raise gx_error(
            f"{field} must be a SHA-256 digest as 64 lower-case hex digits, not {value!r}",
            "gx.invalid_hash",
            field,
        )
    return value


def terms_and_conditions_hash(text: str | bytes) -> str:
    """SHA-256 (hex) of a terms-and-conditions document, as Issuer credentials state it."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def digest_sri(data: str | bytes) -> str:
    """Subresource Integrity digest (``sha256-<base64>``) of a credential's bytes."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return "sha256-" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def credential(
    subject: Mapping[str, Any],
    *,
    issuer: str,
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """Wrap a credential subject into an unsigned VCDM 2.0 credential with the gx context."""
    context: list[Any] = list(CONTEXT)
    if any(isinstance(key, str) and key.startswith("schema:") for key in _keys(subject)):
        context.append(dict(SCHEMA_PREFIX))
    document: dict[str, Any] = {
        "@context": context,
        "id": iri(credential_id, "id") if credential_id else f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", subject["type"]],
        "issuer": iri(issuer, "issuer"),
        "validFrom": _timestamp(valid_from or datetime.now(UTC)),
    }
    if valid_until is not None:
        document["validUntil"] = _timestamp(valid_until)
    document["credentialSubject"] = dict(subject)
    return document


def _keys(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def put_optional(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless the value is empty (None, '' or an empty list)."""
    if value is None or value == "" or (isinstance(value, list | tuple) and not value):
        return
    target[key] = list(value) if isinstance(value, tuple) else value


# --- participant ------------------------------------------------------------------------


def address(
    country: str,
    *,
    region: str | None = None,
    street_address: str | None = None,
    postal_code: str | None = None,
    locality: str | None = None,
    country_name: str | None = None,
    field: str = "address",
) -> dict[str, Any]:
    """A ``gx:Address``: ISO 3166-1 ``gx:countryCode``; in the EU the NUTS-2 ``vcard:region``."""
    node: dict[str, Any] = {
        "type": "gx:Address",
        "gx:countryCode": country_code(country, f"{field}/countryCode"),
    }
    if region is not None:
        text = region.strip().upper()
        if not _NUTS2.match(text):
            raise gx_error(
                f"region {region!r} must be a NUTS-2 code such as DE30 (Berlin) or FR10",
                "gx.invalid_region",
                f"{field}/region",
            )
        node["vcard:region"] = text
    put_optional(node, "vcard:street-address", street_address)
    put_optional(node, "vcard:postal-code", postal_code)
    put_optional(node, "vcard:locality", locality)
    put_optional(node, "gx:countryName", country_name)
    return node


def legal_person(
    *,
    issuer: str,
    subject_id: str,
    legal_address: Mapping[str, Any],
    registration_numbers: Sequence[str],
    headquarters_address: Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
    parent_organization_of: Sequence[str] = (),
    sub_organisation_of: Sequence[str] = (),
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A ``gx:LegalPerson`` credential (self-issued by the participant).

    ``registration_numbers`` are the subject ids of the registration-number credentials the
    notary issued; ``headquarters_address`` defaults to the legal address.
    """
    if not registration_numbers:
        raise gx_error(
            "a legal person needs at least one registration number (the subject id of a "
            "registration-number credential from the notary)",
            "gx.missing_registration_number",
            "registrationNumber",
        )
    subject: dict[str, Any] = {
        "id": iri(subject_id, "subjectId"),
        "type": "gx:LegalPerson",
        "gx:legalAddress": dict(legal_address),
        "gx:headquartersAddress": dict(headquarters_address or legal_address),
        "gx:registrationNumber": [
            reference(number, f"registrationNumber/{index}")
            for index, number in enumerate(registration_numbers)
        ],
    }
    put_optional(subject, "name", name)
    put_optional(subject, "description", description)
    put_optional(
        subject,
        "gx:parentOrganizationOf",
        [reference(v, "parentOrganizationOf") for v in parent_organization_of],
    )
    put_optional(
        subject,
        "gx:subOrganisationOf",
        [reference(v, "subOrganisationOf") for v in sub_organisation_of],
    )
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def registration_number_subject(
    kind: str,
    value: str,
    *,
    subject_id: str,
    country: str | None = None,
    subdivision: str | None = None,
    country_name: str | None = None,
) -> dict[str, Any]:
    """The subject of a registration-number credential (``kind`` one of REGISTRATION_TYPES)."""
    if kind not in REGISTRATION_TYPES:
        raise gx_error(
            f"unknown registration number type {kind!r}; "
            f"use one of {', '.join(REGISTRATION_TYPES)}",
            "gx.invalid_registration_type",
            "type",
        )
    if not isinstance(value, str) or not value.strip():
        raise gx_error(
            "the registration number is empty", "gx.missing_registration_number", "value"
        )
    number = value.strip()
    subject: dict[str, Any] = {"id": iri(subject_id, "subjectId"), "type": f"gx:{kind}"}
    if kind == "VatID":
        subject["gx:vatID"] = number
        if country is not None:
            subject["gx:countryCode"] = country_code(country)
    elif kind == "LeiCode":
        subject["schema:leiCode"] = number
        if country is not None:
            subject["gx:countryCode"] = country_code(country)
        if subdivision is not None:
            subject["gx:subdivisionCountryCode"] = subdivision_code(subdivision)
    elif kind == "EORI":
        subject["gx:eori"] = number
        put_optional(subject, "gx:country", country_name)
    elif kind == "EUID":
        subject["gx:euid"] = number
    elif kind == "TaxID":
        subject["schema:taxID"] = number
    else:
        subject["gx:local"] = number
    return subject


def registration_number(
    kind: str,
    value: str,
    *,
    issuer: str,
    subject_id: str,
    country: str | None = None,
    subdivision: str | None = None,
    country_name: str | None = None,
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A registration-number credential (in a federation the notary issues these)."""
    subject = registration_number_subject(
        kind,
        value,
        subject_id=subject_id,
        country=country,
        subdivision=subdivision,
        country_name=country_name,
    )
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def issuer_credential(
    *,
    issuer: str,
    subject_id: str,
    terms_and_conditions_sha256: str,
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A ``gx:Issuer`` credential: the issuer agrees to the terms with this SHA-256 (hex)."""
    subject = {
        "id": iri(subject_id, "subjectId"),
        "type": "gx:Issuer",
        "gx:gaiaxTermsAndConditions": sha256_hex(
            terms_and_conditions_sha256, "gaiaxTermsAndConditions"
        ),
    }
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def compliant_credential(
    credential_id: str, credential_type: str, digest: str, *, field: str = "compliantCredentials"
) -> dict[str, Any]:
    """One entry of a label credential: which credential was checked, and its SRI digest."""
    if not isinstance(digest, str) or not re.match(r"^sha(256|384|512)-[A-Za-z0-9+/=]+$", digest):
        raise gx_error(
            f"{digest!r} is not a Subresource Integrity digest (sha256-<base64>)",
            "gx.invalid_digest",
            f"{field}/digestSRI",
        )
    return {
        "id": iri(credential_id, f"{field}/id"),
        "type": "gx:CompliantCredential",
        "gx:credentialType": credential_type,
        "digestSRI": digest,
    }


def label_credential(
    *,
    issuer: str,
    subject_id: str,
    level: str,
    engine_version: str,
    rules_version: str,
    validated_criteria: Sequence[str],
    compliant_credentials: Sequence[Mapping[str, Any]],
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A ``gx:LabelCredential``: the compliance level a set of credentials reached."""
    if level not in LABEL_LEVELS:
        raise gx_error(
            f"label level {level!r} is not one of {', '.join(LABEL_LEVELS)}",
            "gx.invalid_label_level",
            "labelLevel",
        )
    if not compliant_credentials:
        raise gx_error(
            "a label credential names at least one compliant credential",
            "gx.missing_compliant_credentials",
            "compliantCredentials",
        )
    if not validated_criteria:
        raise gx_error(
            "a label credential names the criteria it validated",
            "gx.missing_validated_criteria",
            "validatedCriteria",
        )
    subject = {
        "id": iri(subject_id, "subjectId"),
        "type": "gx:LabelCredential",
        "gx:labelLevel": level,
        "gx:engineVersion": engine_version,
        "gx:rulesVersion": rules_version,
        "gx:validatedCriteria": list(validated_criteria),
        "gx:compliantCredentials": [dict(entry) for entry in compliant_credentials],
    }
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def sign_gx_credential(credential: Mapping[str, Any], private_key: PrivateKey, kid: str) -> str:
    """Secure a Gaia-X credential as a ``vc+jwt`` (VC-JOSE, as Gaia-X 25.x uses)."""
    context = credential.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if GX_CONTEXT not in contexts and GX_CONTEXT.rstrip("#") not in contexts:
        raise gx_error(
            f"a Gaia-X credential has the gx context {GX_CONTEXT} in its @context",
            "gx.missing_context",
            "/@context",
        )
    return issue_vc_jwt(credential, private_key, kid)
