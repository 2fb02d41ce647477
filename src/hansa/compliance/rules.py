"""Rules across the credentials of one submission (the criteria are in :mod:`criteria`).

Pure functions over plain data: a :class:`Submission` (the verified credentials, each
with its issuer) and a :class:`RuleContext` (what the registry says). Every rule yields
:class:`~hansa.compliance.violations.Violation` entries that point at the JSON field to
change. A third party adds a rule by appending a :class:`Rule` to the list it passes to
the service; the built-ins in :data:`BUILTIN_RULES` are registered the same way.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pycountry

from hansa.compliance.violations import Violation

GX = "https://w3id.org/gaia-x/development#"
DCTERMS = "http://purl.org/dc/terms/"
RULES_VERSION = "hansa-rules-1"

REGISTRATION_TYPES = frozenset(
    {
        "gx:RegistrationNumber",
        "gx:VatID",
        "gx:LeiCode",
        "gx:EORI",
        "gx:EUID",
        "gx:TaxID",
        "gx:LocalRegistrationNumber",
    }
)
LEGAL_PERSON = "gx:LegalPerson"
ISSUER = "gx:Issuer"
DATA_PRODUCT = "gx:DataProduct"
CERTIFICATE = "gx:StandardConformity"
PARTICIPANT_CATEGORIES = frozenset({"participant"})
DATA_CATEGORIES = frozenset({"data_exchange"})
_SUBDIVISION_KEYS = ("gx:countrySubdivisionCode", "gx:subdivisionCountryCode")


# --- reading compacted Gaia-X JSON-LD ------------------------------------------------------


# Bare type names the VC Data Model 2.0 context defines; any other bare name is a term of
# the Gaia-X context (its @vocab), as Gaia-X credentials write ``"type": "LegalPerson"``.
W3C_TYPES = frozenset(
    {
        "VerifiableCredential",
        "VerifiablePresentation",
        "EnvelopedVerifiableCredential",
        "EnvelopedVerifiablePresentation",
        "Evidence",
        "JsonSchema",
        "JsonSchemaCredential",
        "BitstringStatusListCredential",
        "BitstringStatusListEntry",
        "DataIntegrityProof",
    }
)


def compact(term: str) -> str:
    """``gx:`` form of a Gaia-X type (IRI, ``gx:`` name or bare term); others unchanged."""
    if term.startswith(GX):
        return "gx:" + term[len(GX) :]
    if ":" not in term and term not in W3C_TYPES:
        return "gx:" + term
    return term


def types_of(node: dict[str, Any]) -> list[str]:
    """A node's types (``type`` or ``@type``), Gaia-X ones in ``gx:`` form."""
    value = node.get("type", node.get("@type"))
    values = value if isinstance(value, list) else [value]
    return [compact(v) for v in values if isinstance(v, str) and v]


def _key(node: dict[str, Any], name: str) -> str | None:
    """The key under which ``name`` (``gx:legalAddress``) is written: prefixed, bare or IRI."""
    if name in node:
        return name
    prefix, _, local = name.partition(":")
    expanded = {"gx": GX, "dcterms": DCTERMS}.get(prefix)
    for candidate in (local, expanded + local if expanded else None):
        if candidate and candidate in node:
            return candidate
    return None


def _field(node: dict[str, Any], name: str) -> str:
    """The key of ``name`` in ``node``, or how ``node``'s own keys would write it."""
    found = _key(node, name)
    if found is not None:
        return found
    prefixed = any(key.startswith("gx:") for key in node)
    return name if prefixed else name.partition(":")[2]


def value_of(node: dict[str, Any], name: str) -> Any:
    key = _key(node, name)
    return node[key] if key is not None else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def ref_ids(value: Any) -> list[str]:
    """The ids a property refers to: ``"id"`` strings or ``{"id": ...}`` objects."""
    ids = []
    for item in _as_list(value):
        if isinstance(item, str):
            ids.append(item)
        elif isinstance(item, dict):
            ref = item.get("id", item.get("@id"))
            if isinstance(ref, str):
                ids.append(ref)
    return ids


def _pointer_token(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _walk(value: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    stack: list[tuple[str, Any]] = [(pointer, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            yield where, item
            for key, child in reversed(list(item.items())):
                if isinstance(child, dict | list):
                    stack.append((f"{where}/{_pointer_token(key)}", child))
        elif isinstance(item, list):
            for index in range(len(item) - 1, -1, -1):
                stack.append((f"{where}/{index}", item[index]))


def digest_sri(token: str | None, credential: dict[str, Any]) -> str:
    """SRI digest of a credential: of the ``vc+jwt`` bytes, else of its canonical JSON."""
    data = (
        token.encode("ascii")
        if token is not None
        else json.dumps(credential, sort_keys=True, separators=(",", ":")).encode("utf-8")
    )
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


# --- the submission -------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """One verified credential of a submission."""

    id: str
    """The credential's id, or ``#<index>`` in the presentation when it has none."""
    index: int
    credential: dict[str, Any]
    issuer: str
    token: str | None = None
    types: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, index: int, credential: dict[str, Any], issuer: str, token: str | None = None
    ) -> Submitted:
        types = set(types_of(credential))
        for _, subject in cls._subjects_of(credential):
            types.update(types_of(subject))
        credential_id = credential.get("id")
        return cls(
            id=credential_id if isinstance(credential_id, str) else f"#{index}",
            index=index,
            credential=credential,
            issuer=issuer,
            token=token,
            types=frozenset(types),
        )

    @staticmethod
    def _subjects_of(credential: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        subject = credential.get("credentialSubject")
        if isinstance(subject, list):
            return [
                (f"/credentialSubject/{i}", s) for i, s in enumerate(subject) if isinstance(s, dict)
            ]
        return [("/credentialSubject", subject)] if isinstance(subject, dict) else []

    def subjects(self) -> list[tuple[str, dict[str, Any]]]:
        """``(pointer, subject)`` for each credential subject."""
        return self._subjects_of(self.credential)

    def subjects_of_type(self, type_name: str) -> list[tuple[str, dict[str, Any]]]:
        return [(p, s) for p, s in self.subjects() if type_name in types_of(s)]

    def nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every object inside the credential subjects, with its JSON pointer."""
        for pointer, subject in self.subjects():
            yield from _walk(subject, pointer)

    @property
    def digest(self) -> str:
        return digest_sri(self.token, self.credential)


def is_offering(type_name: str) -> bool:
    return type_name.startswith("gx:") and type_name.endswith("ServiceOffering")


@dataclass(frozen=True)
class Submission:
    holder: str
    credentials: tuple[Submitted, ...]

    def with_type(self, type_name: str) -> list[Submitted]:
        return [c for c in self.credentials if type_name in c.types]

    def registrations(self) -> list[Submitted]:
        return [c for c in self.credentials if c.types & REGISTRATION_TYPES]

    def offerings(self) -> list[tuple[Submitted, str, dict[str, Any]]]:
        """``(credential, pointer, subject)`` for each service offering or data product."""
        found = []
        for credential in self.credentials:
            for pointer, subject in credential.subjects():
                names = types_of(subject)
                if any(is_offering(t) for t in names) or DATA_PRODUCT in names:
                    found.append((credential, pointer, subject))
        return found

    def legal_persons(self) -> dict[str, tuple[Submitted, str]]:
        """LegalPerson subject id -> (its credential, pointer)."""
        persons: dict[str, tuple[Submitted, str]] = {}
        for credential in self.with_type(LEGAL_PERSON):
            for pointer, subject in credential.subjects_of_type(LEGAL_PERSON):
                if isinstance(subject.get("id"), str):
                    persons[subject["id"]] = (credential, pointer)
        return persons


@dataclass(frozen=True)
class RuleContext:
    """What the rules may consult besides the submission (all from the registry)."""

    submission: Submission
    terms_hash: str
    terms_version: str
    known_terms: dict[str, str]
    """sha256 -> version of every T&C version the registry knows."""
    is_notary: Callable[[str], bool]
    is_assessment_body: Callable[[str], bool]


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    check: Callable[[RuleContext], Iterable[Violation]]


PRESENTATION = "#presentation"


def missing(rule: str, message: str, fix: str) -> Violation:
    return Violation(PRESENTATION, "/verifiableCredential", rule, message, fix)


# --- the built-in rules -------------------------------------------------------------------


def participant_credentials(ctx: RuleContext) -> Iterator[Violation]:
    """The participant's LegalPerson and Issuer credentials are there, signed by the holder."""
    submission = ctx.submission
    for type_name, rule in ((LEGAL_PERSON, "rule.legal_person"), (ISSUER, "rule.issuer")):
        found = submission.with_type(type_name)
        if not found:
            yield missing(
                f"{rule}.missing",
                f"the presentation carries no {type_name} credential of the participant",
                f"add the {type_name} credential that {submission.holder} signed",
            )
        for credential in found:
            if credential.issuer != submission.holder:
                yield Violation(
                    credential.id,
                    "/issuer",
                    f"{rule}.self_signed",
                    f"a {type_name} credential is signed by the participant it describes, "
                    f"but this one is signed by {credential.issuer}",
                    f"have {submission.holder} (the presentation's holder) sign it",
                )


def registration_from_notary(ctx: RuleContext) -> Iterator[Violation]:
    """Registration numbers come from a trusted notary and are cited by the LegalPerson."""
    registrations = ctx.submission.registrations()
    notarised: dict[str, Submitted] = {}
    for credential in registrations:
        if not ctx.is_notary(credential.issuer):
            yield Violation(
                credential.id,
                "/issuer",
                "rule.registration_number.notary",
                f"a registration number must be attested by a notary this clearing house "
                f"trusts; {credential.issuer} is not one",
                "ask a trusted notary (see GET /registry/trust-anchors) for the credential",
            )
        # Cited counts even from an untrusted notary: that is reported once, above.
        for _, subject in credential.subjects():
            if isinstance(subject.get("id"), str):
                notarised[subject["id"]] = credential
    for credential in ctx.submission.with_type(LEGAL_PERSON):
        for pointer, subject in credential.subjects_of_type(LEGAL_PERSON):
            key = _field(subject, "gx:registrationNumber")
            cited = ref_ids(subject.get(key))
            if not any(ref in notarised for ref in cited):
                yield Violation(
                    credential.id,
                    f"{pointer}/{_pointer_token(key)}",
                    "rule.registration_number.names_participant",
                    "the LegalPerson's registrationNumber must cite, by id, the subject of a "
                    "notary's registration-number credential in this presentation",
                    "set gx:registrationNumber to {'id': <credentialSubject.id of the notary's "
                    "credential>} and include that credential",
                )


def terms_and_conditions(ctx: RuleContext) -> Iterator[Violation]:
    """The Issuer credential carries the hash of the current terms and conditions."""
    for credential in ctx.submission.with_type(ISSUER):
        for pointer, subject in credential.subjects_of_type(ISSUER):
            key = _field(subject, "gx:gaiaxTermsAndConditions")
            value = subject.get(key)
            if value == ctx.terms_hash:
                continue
            other = ctx.known_terms.get(value) if isinstance(value, str) else None
            said = f"the hash of T&C version {other}" if other else "no known T&C version"
            yield Violation(
                credential.id,
                f"{pointer}/{_pointer_token(key)}",
                "rule.tandc_hash",
                f"gx:gaiaxTermsAndConditions must be the SHA-256 of the current terms and "
                f"conditions (version {ctx.terms_version}); it is {said}",
                f"read the current terms (GET /registry/terms-and-conditions) and set it to "
                f"{ctx.terms_hash}",
            )


def offering_provider(ctx: RuleContext) -> Iterator[Violation]:
    """An offering's provider is a LegalPerson in the presentation, whose key signed it."""
    persons = ctx.submission.legal_persons()
    for credential, pointer, subject in ctx.submission.offerings():
        name = (
            "gx:digitalServiceOfferingProvider"
            if DATA_PRODUCT in types_of(subject)
            else "gx:providedBy"
        )
        key = _field(subject, name)
        where = f"{pointer}/{_pointer_token(key)}"
        refs = ref_ids(subject.get(key))
        person = next((persons[r] for r in refs if r in persons), None)
        if person is None:
            yield Violation(
                credential.id,
                where,
                "rule.offering.provider",
                f"{name} must cite, by id, the gx:LegalPerson of a credential in this presentation",
                "set it to {'id': <credentialSubject.id of your LegalPerson credential>} "
                "and include that credential",
            )
        elif person[0].issuer != credential.issuer:
            yield Violation(
                credential.id,
                "/issuer",
                "rule.offering.signed_by_provider",
                f"the offering is signed by {credential.issuer}, not by its provider "
                f"{person[0].issuer}",
                f"have {person[0].issuer} sign the offering credential",
            )


@cache
def _countries() -> dict[str, str]:
    """Every ISO 3166-1 alpha-2, alpha-3 and numeric code -> its alpha-2 code."""
    codes: dict[str, str] = {}
    for country in pycountry.countries:
        for code in (country.alpha_2, country.alpha_3, country.numeric):
            codes[code] = country.alpha_2
    return codes


@cache
def _subdivisions() -> dict[str, str]:
    """Every ISO 3166-2 code -> the alpha-2 code of its country."""
    return {sub.code: sub.country_code for sub in pycountry.subdivisions}


def _valid_country(code: str) -> str | None:
    """The alpha-2 code of an ISO 3166-1 alpha-2, alpha-3 or numeric code, else None."""
    return _countries().get(code.zfill(3) if code.isdigit() else code)


def addresses(ctx: RuleContext) -> Iterator[Violation]:
    """Country codes are ISO 3166-1 and subdivisions ISO 3166-2 codes of that country."""
    for credential in ctx.submission.credentials:
        for pointer, node in credential.nodes():
            key = _key(node, "gx:countryCode")
            country = None
            if key is not None:
                code = node[key]
                country = _valid_country(code) if isinstance(code, str) else None
                if country is None:
                    yield Violation(
                        credential.id,
                        f"{pointer}/{_pointer_token(key)}",
                        "rule.address.country",
                        f"{str(code)[:40]!r} is not an ISO 3166-1 country code",
                        "write the country as ISO 3166-1 alpha-2, e.g. 'DE'",
                    )
            for name in _SUBDIVISION_KEYS:
                sub_key = _key(node, name)
                if sub_key is None:
                    continue
                code = node[sub_key]
                found = _subdivisions().get(code) if isinstance(code, str) else None
                if found is None or (country is not None and found != country):
                    yield Violation(
                        credential.id,
                        f"{pointer}/{_pointer_token(sub_key)}",
                        "rule.address.subdivision",
                        f"{str(code)[:40]!r} is not an ISO 3166-2 subdivision"
                        + (f" of {country}" if country else ""),
                        "write the subdivision as ISO 3166-2, e.g. 'DE-BE' for Berlin",
                    )


def personal_data(ctx: RuleContext) -> Iterator[Violation]:
    """A resource with personal data declares a legitimate interest with basis and contact."""
    for credential in ctx.submission.credentials:
        for pointer, node in credential.nodes():
            if value_of(node, "gx:containsPII") not in (True, "true"):
                continue
            key = _field(node, "gx:legitimateInterest")
            interests = [i for i in _as_list(node.get(key)) if isinstance(i, dict)]
            complete = any(
                value_of(i, "gx:legalBasis") and value_of(i, "gx:dataProtectionContact")
                for i in interests
            )
            if not complete:
                yield Violation(
                    credential.id,
                    f"{pointer}/{_pointer_token(key)}",
                    "rule.personal_data.legitimate_interest",
                    "data with personal information (gx:containsPII true) needs a declared "
                    "legitimate interest",
                    "add gx:legitimateInterest with gx:legalBasis and gx:dataProtectionContact",
                )


BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(
        "rule.participant", "LegalPerson and Issuer signed by the holder", participant_credentials
    ),
    Rule("rule.registration_number", "notarised and cited", registration_from_notary),
    Rule("rule.tandc_hash", "current T&C hash in the Issuer credential", terms_and_conditions),
    Rule("rule.offering", "provider in the presentation, signer", offering_provider),
    Rule("rule.address", "ISO 3166-1 countries, ISO 3166-2 subdivisions", addresses),
    Rule("rule.personal_data", "legitimate interest for PII", personal_data),
)


def check_rules(ctx: RuleContext, rules: Sequence[Rule] = BUILTIN_RULES) -> list[Violation]:
    """Every violation of every rule, in rule order."""
    return [violation for rule in rules for violation in rule.check(ctx)]
