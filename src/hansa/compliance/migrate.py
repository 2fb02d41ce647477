"""Gaia-X 22.10 ("Tagus") credentials carried over to 25.11: verify, map, report what is lost.

A 22.10 credential is VCDM 1.1 JSON-LD with a ``JsonWebSignature2020`` proof and the
trust-framework context (``gx:`` = the 22.10 registry namespace). Its proof is verified
first (:func:`hansa.identity.jws2020.verify_jws2020`, with Hansa's copy of that context), so
a tampered credential is refused, never migrated. Then its subject is mapped to the 25.11
vocabulary and wrapped in an unsigned VCDM 2.0 credential (:func:`hansa.compliance.gx.credential`):

=============================  ==============================================================
22.10                          25.11
=============================  ==============================================================
gx:LegalParticipant            gx:LegalPerson
  gx:legalName                   name (schema.org)
  gx:legalRegistrationNumber     gx:registrationNumber
  gx:headquarterAddress          gx:headquartersAddress (gx:Address, ISO 3166-1 country)
  gx:legalAddress                gx:legalAddress
  gx:parentOrganization          gx:subOrganisationOf (this entity is a part of those)
  gx:subOrganization             gx:parentOrganizationOf
gx:legalRegistrationNumber     gx:VatID / gx:LeiCode / gx:EORI / gx:EUID / gx:TaxID
gx:ServiceOffering             gx:ServiceOffering
  gx:providedBy, gx:dependsOn    the same
  gx:aggregationOf               gx:aggregationOfResources
  gx:policy                      gx:servicePolicy (gx:AccessUsagePolicy, language detected)
  gx:termsAndConditions          gx:serviceOfferingTermsAndConditions (gx:url + gx:hash)
  gx:dataAccountExport           gx:dataAccountExport (gx:DataAccountExport)
  gx:dataProtectionRegime        the same
  gx:name, gx:description        name, description (schema.org)
issuanceDate, expirationDate   validFrom, validUntil
=============================  ==============================================================

What has no 25.11 place (a 22.10 ISO 3166-2 subdivision: 25.11 addresses name NUTS-2
regions; the 22.10 T&C text; status entries; unknown properties) is reported as a
:class:`MigrationWarning` with the JSON pointer of the value, never dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hansa.compliance import gx
from hansa.errors import BadRequest, HansaError
from hansa.identity.did import DidResolver
from hansa.identity.jsonld import ContextLoader
from hansa.identity.jws2020 import verify_jws2020
from hansa.identity.validity import parse_datetime

TRUSTFRAMEWORK_2210 = (
    "https://registry.lab.gaia-x.eu/development/api/trusted-shape-registry/v1/shapes/jsonld/"
    "trustframework#"
)
_ENVELOPE = frozenset(
    {"@context", "type", "@type", "id", "@id", "issuer", "issuanceDate", "expirationDate"}
)
# The 22.10 registration-number keys, in the order a 25.11 credential picks one.
_NUMBERS = (
    ("vatID", "VatID", "vatID-countryCode"),
    ("leiCode", "LeiCode", "leiCode-countryCode"),
    ("EORI", "EORI", "EORI-country"),
    ("EUID", "EUID", None),
    ("taxID", "TaxID", None),
)


@dataclass(frozen=True)
class MigrationWarning:
    """Something of the 22.10 credential that the 25.11 one does not carry (and why)."""

    pointer: str
    """JSON pointer into the 22.10 input (a presentation's credentials are under it)."""
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


@dataclass(frozen=True)
class Migrated:
    """One 22.10 credential: its proof's signer, and the 25.11 credential (if any)."""

    source_id: str
    verification_method: str | None
    credential: dict[str, Any] | None
    """None when 25.11 has no such credential (the 22.10 T&C text); see the warnings."""
    warnings: tuple[MigrationWarning, ...] = ()


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _local(key: str) -> str | None:
    """The 22.10 term name of a ``gx:`` key (prefixed or full IRI), else None."""
    for prefix in ("gx:", TRUSTFRAMEWORK_2210):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return None


def _types(node: Mapping[str, Any]) -> list[str]:
    value = node.get("type", node.get("@type"))
    values = value if isinstance(value, list) else [value]
    return [name for v in values if isinstance(v, str) and (name := _local(v)) is not None]


def _invalid(detail: str, pointer: str) -> BadRequest:
    return BadRequest(detail, code="migrate.invalid_credential", pointer=pointer)


@dataclass
class _Subject:
    """A 22.10 node read term by term; what is not read ends up as a warning."""

    node: Mapping[str, Any]
    pointer: str
    warnings: list[MigrationWarning]
    read: set[str] = field(default_factory=lambda: {"id", "@id", "type", "@type", "@context"})

    def get(self, name: str) -> tuple[str, Any] | None:
        for key, value in self.node.items():
            if _local(key) == name:
                self.read.add(key)
                return f"{self.pointer}/{_escape(key)}", value
        return None

    def text(self, name: str) -> tuple[str, str] | None:
        found = self.get(name)
        if found is None:
            return None
        where, value = found
        if isinstance(value, Mapping) and "@value" in value:
            value = value["@value"]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _invalid(f"{name} must be a text value", where)
        return where, str(value)

    def warn(self, pointer: str, message: str) -> None:
        self.warnings.append(MigrationWarning(pointer, message))

    def leftovers(self) -> None:
        for key in self.node:
            if key not in self.read:
                self.warn(
                    f"{self.pointer}/{_escape(key)}",
                    f"{key} has no counterpart in Gaia-X 25.11 and is not carried over",
                )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _references(value: Any, where: str) -> list[str]:
    ids = []
    for index, item in enumerate(_as_list(value)):
        ref = item.get("id", item.get("@id")) if isinstance(item, Mapping) else item
        if not isinstance(ref, str):
            raise _invalid("a link is an object with an id (or the id itself)", f"{where}/{index}")
        ids.append(ref)
    return ids


def _address(subject: _Subject, name: str) -> tuple[str, dict[str, Any]] | None:
    found = subject.get(name)
    if found is None:
        return None
    where, value = found
    if not isinstance(value, Mapping):
        raise _invalid(f"{name} must be an object with gx:countrySubdivisionCode", where)
    node = _Subject(value, where, subject.warnings)
    code = node.text("countrySubdivisionCode")
    if code is None:
        raise _invalid(f"{name} has no gx:countrySubdivisionCode", where)
    code_at, text = code
    try:
        subdivision = gx.subdivision_code(text, code_at)
    except HansaError as exc:
        exc.pointer = code_at
        raise
    country = subdivision.split("-", 1)[0]
    node.warn(
        code_at,
        f"the ISO 3166-2 subdivision {subdivision} has no place in a 25.11 gx:Address (it "
        f"names a NUTS-2 region, vcard:region); only the country {country} is carried over",
    )
    node.leftovers()
    return where, gx.address(country, field=name)


def _legal_person(subject: _Subject, subject_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": subject_id, "type": "gx:LegalPerson"}
    if (name := subject.text("legalName")) is not None:
        out["name"] = name[1]
    numbers = subject.get("legalRegistrationNumber")
    if numbers is None:
        raise _invalid("a LegalParticipant names its gx:legalRegistrationNumber", subject.pointer)
    out["gx:registrationNumber"] = [
        gx.reference(ref, "registrationNumber") for ref in _references(numbers[1], numbers[0])
    ]
    legal = _address(subject, "legalAddress")
    headquarters = _address(subject, "headquarterAddress")
    if legal is None and headquarters is None:
        raise _invalid("a LegalParticipant has a gx:legalAddress", subject.pointer)
    if legal is None or headquarters is None:
        present = legal or headquarters
        assert present is not None
        missing = "legalAddress" if legal is None else "headquarterAddress"
        subject.warn(present[0], f"gx:{missing} is missing (25.11 requires it): this one is used")
        legal, headquarters = legal or present, headquarters or present
    out["gx:legalAddress"] = legal[1]
    out["gx:headquartersAddress"] = headquarters[1]
    # 22.10 parentOrganization lists those this entity is a sub-organisation of.
    for old, new in (
        ("parentOrganization", "subOrganisationOf"),
        ("subOrganization", "parentOrganizationOf"),
    ):
        if (found := subject.get(old)) is not None:
            out[f"gx:{new}"] = [gx.reference(r, new) for r in _references(found[1], found[0])]
    return out


def _registration_number(subject: _Subject, subject_id: str) -> dict[str, Any]:
    picked: dict[str, Any] | None = None
    for key, kind, country_key in _NUMBERS:
        found = subject.text(key)
        if found is None:
            continue
        country = subject.text(country_key) if country_key else None
        if picked is not None:
            subject.warn(
                found[0],
                f"a 25.11 registration-number credential carries one number; ask the notary "
                f"for a credential for this {kind} separately",
            )
            continue
        picked = gx.registration_number_subject(
            kind,
            found[1],
            subject_id=subject_id,
            country=country[1] if country and kind in ("VatID", "LeiCode") else None,
            country_name=country[1] if country and kind == "EORI" else None,
        )
    if picked is None:
        raise _invalid(
            "a legalRegistrationNumber has one of gx:vatID, gx:leiCode, gx:EORI, gx:EUID, gx:taxID",
            subject.pointer,
        )
    subject.warn(
        subject.pointer,
        "the notary's 22.10 attestation does not carry over: a 25.11 federation trusts a "
        "registration number its notary attests (GET /v2/registration-numbers/...)",
    )
    return picked


def policy_language(text: str) -> str:
    """The 25.11 ``gx:policyLanguage`` of a 22.10 policy text (ODRL, Rego, JSON or Other)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return "Rego" if text.lstrip().startswith("package ") else "Other"
    if isinstance(parsed, dict) and (
        "odrl" in json.dumps(parsed.get("@context", "")).lower()
        or {"permission", "prohibition", "obligation"} & set(parsed)
    ):
        return "ODRL"
    return "JSON"


def _service_offering(subject: _Subject, subject_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": subject_id, "type": "gx:ServiceOffering"}
    provided = subject.get("providedBy")
    if provided is None:
        raise _invalid("a ServiceOffering names its gx:providedBy", subject.pointer)
    out["gx:providedBy"] = gx.reference(_references(provided[1], provided[0])[0], "providedBy")
    for name in ("name", "description"):
        if (found := subject.text(name)) is not None:
            out[name] = found[1]
    terms = subject.get("termsAndConditions")
    if terms is None:
        raise _invalid("a ServiceOffering has gx:termsAndConditions", subject.pointer)
    out["gx:serviceOfferingTermsAndConditions"] = []
    for index, item in enumerate(_as_list(terms[1])):
        where = f"{terms[0]}/{index}" if isinstance(terms[1], list) else terms[0]
        node = _Subject(item if isinstance(item, Mapping) else {}, where, subject.warnings)
        url, digest = node.text("URL"), node.text("hash")
        if url is None or digest is None:
            raise _invalid("terms and conditions have a gx:URL and a gx:hash", where)
        node.leftovers()
        out["gx:serviceOfferingTermsAndConditions"].append(
            {
                "type": "gx:TermsAndConditions",
                "gx:url": gx.any_uri(url[1], url[0]),
                "gx:hash": digest[1],
            }
        )
    if (policy := subject.get("policy")) is not None:
        policies = []
        for index, text in enumerate(_as_list(policy[1])):
            where = f"{policy[0]}/{index}" if isinstance(policy[1], list) else policy[0]
            if not isinstance(text, str) or not text.strip():
                subject.warn(where, "an empty or non-text 22.10 policy is not carried over")
                continue
            policies.append(
                {
                    "type": "gx:AccessUsagePolicy",
                    "gx:policyLanguage": policy_language(text),
                    "gx:policyDocument": text,
                }
            )
        gx.put_optional(out, "gx:servicePolicy", policies)
    if (exports := subject.get("dataAccountExport")) is not None:
        out["gx:dataAccountExport"] = []
        for index, item in enumerate(_as_list(exports[1])):
            where = f"{exports[0]}/{index}" if isinstance(exports[1], list) else exports[0]
            node = _Subject(item if isinstance(item, Mapping) else {}, where, subject.warnings)
            export: dict[str, Any] = {"type": "gx:DataAccountExport"}
            for key in ("requestType", "accessType", "formatType"):
                if (found := node.text(key)) is not None:
                    export[f"gx:{key}"] = found[1]
            node.leftovers()
            out["gx:dataAccountExport"].append(export)
    if (regimes := subject.get("dataProtectionRegime")) is not None:
        out["gx:dataProtectionRegime"] = _as_list(regimes[1])
    for old, new in (("aggregationOf", "aggregationOfResources"), ("dependsOn", "dependsOn")):
        if (found := subject.get(old)) is not None:
            out[f"gx:{new}"] = [gx.reference(r, new) for r in _references(found[1], found[0])]
            subject.warn(found[0], f"gx:{new} links to 22.10 descriptions: migrate those too")
    return out


_MAPPERS: dict[str, Callable[[_Subject, str], dict[str, Any]]] = {
    "LegalParticipant": _legal_person,
    "legalRegistrationNumber": _registration_number,
    "ServiceOffering": _service_offering,
}


def _date(document: Mapping[str, Any], key: str, pointer: str) -> datetime | None:
    value = document.get(key)
    return None if value is None else parse_datetime(value, f"{pointer}/{key}")


def migrate_credential(
    document: Mapping[str, Any],
    resolver: DidResolver,
    *,
    loader: ContextLoader | None = None,
    pointer: str = "",
) -> Migrated:
    """Verify a 22.10 credential's ``JsonWebSignature2020`` proof and map it to 25.11.

    Raises the verifier's ``vc.*``, ``did.*`` and ``jsonld.*`` errors (a tampered proof is
    ``vc.signature_invalid``), ``migrate.invalid_credential`` for input 22.10 did not allow
    either, and ``migrate.unsupported_type`` for a type with no 25.11 mapping.
    """
    if not isinstance(document, Mapping):
        raise _invalid("a credential is a JSON object", pointer or "/")
    try:
        proof = verify_jws2020(dict(document), resolver, loader=loader)
    except HansaError as exc:
        exc.pointer = f"{pointer}{exc.pointer or ''}"
        raise
    source_id = str(document.get("id") or f"{pointer or '/'}")
    warnings: list[MigrationWarning] = []
    subject_value = document.get("credentialSubject")
    subjects = _as_list(subject_value)
    if len(subjects) != 1 or not isinstance(subjects[0], Mapping):
        raise _invalid(
            "a 22.10 credential has one credentialSubject object", f"{pointer}/credentialSubject"
        )
    subject_at = f"{pointer}/credentialSubject" + ("/0" if isinstance(subject_value, list) else "")
    subject = _Subject(subjects[0], subject_at, warnings)
    types = _types(subjects[0])
    if "GaiaXTermsAndConditions" in types:
        subject.warn(
            subject_at,
            "the 22.10 terms and conditions have no 25.11 credential of their own: sign a "
            "gx:Issuer credential with the SHA-256 of the federation's current terms "
            "(hansa gx issuer)",
        )
        return Migrated(source_id, proof.verification_method, None, tuple(warnings))
    kind = next((t for t in types if t in _MAPPERS), None)
    if kind is None:
        raise BadRequest(
            f"no Gaia-X 25.11 mapping for the 22.10 type(s) {types or 'none'}; Hansa migrates "
            f"{', '.join('gx:' + t for t in _MAPPERS)} and gx:GaiaXTermsAndConditions",
            code="migrate.unsupported_type",
            pointer=f"{subject_at}/type",
        )
    subject_id = subjects[0].get("id", subjects[0].get("@id"))
    if not isinstance(subject_id, str):
        subject_id = f"{source_id}#cs"
        subject.warn(f"{subject_at}/id", f"the subject has no id; {subject_id} is used")
    mapped = _MAPPERS[kind](subject, subject_id)
    subject.leftovers()
    for key in document:
        if key not in _ENVELOPE and key not in ("credentialSubject", "proof"):
            warnings.append(
                MigrationWarning(
                    f"{pointer}/{_escape(key)}",
                    f"{key} is not carried over (a 25.11 credential gets its own, e.g. a "
                    "status entry when the node signs it)",
                )
            )
    issuer = document.get("issuer")
    issuer = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    if not isinstance(issuer, str):
        raise _invalid("the credential names its issuer", f"{pointer}/issuer")
    credential = gx.credential(
        mapped,
        issuer=issuer,
        credential_id=str(document["id"]) if isinstance(document.get("id"), str) else None,
        valid_from=_date(document, "issuanceDate", pointer),
        valid_until=_date(document, "expirationDate", pointer),
    )
    return Migrated(source_id, proof.verification_method, credential, tuple(warnings))


def migrate(
    document: Mapping[str, Any], resolver: DidResolver, *, loader: ContextLoader | None = None
) -> list[Migrated]:
    """Migrate a 22.10 credential, or each credential of a 22.10 presentation."""
    types = _as_list(document.get("type", document.get("@type")))
    if "VerifiablePresentation" not in types:
        return [migrate_credential(document, resolver, loader=loader)]
    credentials = document.get("verifiableCredential")
    if not isinstance(credentials, list) or not credentials:
        raise _invalid("the presentation carries no credential", "/verifiableCredential")
    return [
        migrate_credential(c, resolver, loader=loader, pointer=f"/verifiableCredential/{i}")
        for i, c in enumerate(credentials)
    ]
