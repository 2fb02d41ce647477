"""What a submission must prove before anything of it is stored (pure checks, no I/O).

A submission is a set of verified credentials (signatures, validity and status already
checked by :class:`hansa.identity.verifier.CredentialVerifier`). It is accepted when:

1. it carries at least one compliance label (``gx:LabelCredential``) from a trusted
   compliance issuer (``catalogue.no_label``, ``catalogue.untrusted_compliance_issuer``);
2. every other credential is a ``vc+jwt`` listed in a label's ``gx:compliantCredentials``
   by its id (``catalogue.not_covered``), with the ``digestSRI`` of its exact token bytes
   (``catalogue.digest_mismatch``);
3. it holds an offering or participant credential to publish
   (``catalogue.nothing_to_publish``), each with a subject id and, for an offering, a
   provider (``catalogue.no_subject``, ``catalogue.no_provider``);
4. the presenter, when a participant signed the request, is the provider of each offering
   or the participant itself (``catalogue.not_owner``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hansa.catalogue.offering import (
    LABEL_TYPE,
    PARTICIPANT_TYPES,
    entry_kind,
    get,
    local_name,
    project,
    provider_of,
    subject_of,
    subject_types,
)
from hansa.errors import BadRequest, Forbidden, ValidationFailed
from hansa.identity.did import split_did_url
from hansa.identity.verifier import CredentialCheck

LABEL_LEVELS = ("SC", "L1", "L2", "L3")
DIGEST_SRI = "https://www.w3.org/2018/credentials#digestSRI"
_SRI_ALGORITHMS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def digest_sri(token: str, algorithm: str = "sha256") -> str:
    """The Subresource Integrity digest of a token's exact bytes: ``sha256-<base64>``."""
    digest = _SRI_ALGORITHMS[algorithm](token.encode("ascii")).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode('ascii')}"


def digest_matches(token: str, sri: str) -> bool:
    """True when ``sri`` (``alg-base64``, SRI syntax) is the digest of ``token``."""
    algorithm, _, _ = sri.partition("-")
    if algorithm not in _SRI_ALGORITHMS:
        return False
    return hmac.compare_digest(digest_sri(token, algorithm), sri.strip())


@dataclass(frozen=True)
class CoveredEntry:
    """One ``gx:CompliantCredential`` of a label: the credential id, its digest and type."""

    credential_id: str
    digest: str
    credential_types: frozenset[str]
    """Local names (``ServiceOffering``); the clearing house joins several with commas."""


@dataclass(frozen=True)
class Label:
    check: CredentialCheck
    level: str
    covered: dict[str, CoveredEntry]

    @property
    def token(self) -> str:
        assert self.check.token is not None  # labels are accepted only as vc+jwt
        return self.check.token


@dataclass(frozen=True)
class Publication:
    """One entry to store: an offering or participant credential and the label covering it."""

    kind: str
    subject: str
    owner: str
    check: CredentialCheck
    label: Label
    document: dict[str, Any]
    evidence: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        assert self.check.token is not None
        return self.check.token


def is_label(check: CredentialCheck) -> bool:
    return LABEL_TYPE in subject_types(check.credential)


def read_label(check: CredentialCheck, index: int) -> Label:
    """The level and covered credentials of a verified label credential."""
    pointer = f"/verifiableCredential/{index}/credentialSubject"
    subject = subject_of(check.credential)
    level = next(iter(str(v) for v in get(subject, "gx:labelLevel") if isinstance(v, str)), "")
    if level not in LABEL_LEVELS:
        raise ValidationFailed(
            f"the label's gx:labelLevel is {level or 'missing'}; it must be one of "
            + ", ".join(LABEL_LEVELS),
            code="catalogue.invalid_label",
            pointer=f"{pointer}/gx:labelLevel",
        )
    covered: dict[str, CoveredEntry] = {}
    for position, item in enumerate(get(subject, "gx:compliantCredentials")):
        digest = (
            item.get(DIGEST_SRI, item.get("cred:digestSRI", item.get("digestSRI")))
            if (isinstance(item, dict))
            else None
        )
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("id"), str)
            or not isinstance(digest, str)
        ):
            raise ValidationFailed(
                "each gx:compliantCredentials entry needs an id and a digestSRI",
                code="catalogue.invalid_label",
                pointer=f"{pointer}/gx:compliantCredentials/{position}",
            )
        kinds = frozenset(
            local_name(part.strip())
            for value in get(item, "gx:credentialType")
            if isinstance(value, str)
            for part in value.split(",")
            if part.strip()
        )
        covered[item["id"]] = CoveredEntry(item["id"], digest, kinds)
    if not covered:
        raise ValidationFailed(
            "the label covers no credential (gx:compliantCredentials is empty)",
            code="catalogue.invalid_label",
            pointer=f"{pointer}/gx:compliantCredentials",
        )
    return Label(check, level, covered)


def _covering(labels: list[Label], check: CredentialCheck, index: int) -> Label:
    pointer = f"/verifiableCredential/{index}"
    credential_id = check.credential.get("id")
    if check.token is None:
        raise BadRequest(
            "catalogue credentials must be vc+jwt: the label's digest is over the token bytes",
            code="catalogue.not_jwt",
            pointer=pointer,
        )
    candidates = [label for label in labels if credential_id in label.covered]
    if not isinstance(credential_id, str) or not candidates:
        raise ValidationFailed(
            f"credential {credential_id or '(without id)'} is not covered by the compliance "
            "label presented with it; get a label that lists it in gx:compliantCredentials",
            code="catalogue.not_covered",
            pointer=f"{pointer}/id",
        )
    for label in candidates:
        entry = label.covered[credential_id]
        if entry.credential_types and entry.credential_types.isdisjoint(
            subject_types(check.credential)
        ):
            continue
        if digest_matches(check.token, entry.digest):
            return label
    raise ValidationFailed(
        f"credential {credential_id} is not the one the label covers: the SHA-256 of its "
        "token differs from the label's digestSRI (was it changed after the label was issued?)",
        code="catalogue.digest_mismatch",
        pointer=pointer,
        expected=[label.covered[credential_id].digest for label in candidates],
        actual=digest_sri(check.token),
    )


def plan_publications(
    checks: Sequence[CredentialCheck],
    *,
    is_compliance_issuer: Callable[[str], bool],
    holder: str | None,
) -> list[Publication]:
    """Check a verified submission (rules 1-4 above) and say what to store."""
    labels: list[Label] = []
    for index, check in enumerate(checks):
        if not is_label(check):
            continue
        if check.token is None:
            raise BadRequest(
                "the compliance label must be a vc+jwt",
                code="catalogue.not_jwt",
                pointer=f"/verifiableCredential/{index}",
            )
        if not is_compliance_issuer(check.issuer):
            raise Forbidden(
                f"the label was issued by {check.issuer}, which is not a compliance issuer "
                "this catalogue trusts; have the offering checked by the federation's "
                "clearing house",
                code="catalogue.untrusted_compliance_issuer",
                pointer=f"/verifiableCredential/{index}/issuer",
            )
        labels.append(read_label(check, index))
    if not labels:
        raise ValidationFailed(
            "the submission carries no compliance label (gx:LabelCredential); present the "
            "label the clearing house issued with the credentials it covers",
            code="catalogue.no_label",
        )
    publications: list[tuple[int, CredentialCheck, Label]] = []
    evidence: list[str] = []
    for index, check in enumerate(checks):
        if is_label(check):
            continue
        label = _covering(labels, check, index)
        if entry_kind(check.credential) is None:
            evidence.append(check.token or "")
        else:
            publications.append((index, check, label))
    # A gx:providedBy may name the provider's LegalPerson subject rather than its DID:
    # the participant is who issued that LegalPerson (participants describe themselves).
    participants = {
        str(subject_of(c.credential).get("id")): c.issuer
        for c in checks
        if entry_kind(c.credential) in PARTICIPANT_TYPES
    }
    if not publications:
        raise ValidationFailed(
            "the submission holds no offering or participant credential to publish "
            "(gx:ServiceOffering, gx:DataProduct, gx:LegalPerson...)",
            code="catalogue.nothing_to_publish",
        )
    return [
        _publication(index, check, label, holder, evidence, participants)
        for index, check, label in publications
    ]


def owner_of(check: CredentialCheck, participants: Mapping[str, str]) -> str | None:
    """The participant DID an entry belongs to.

    A participant credential: its subject when that is a DID, else its issuer. An offering:
    its ``gx:providedBy`` when that is a DID; else the issuer of the LegalPerson it names
    (from ``participants``: subject id -> issuer), else the offering's own issuer.
    """
    subject = subject_of(check.credential).get("id")
    if entry_kind(check.credential) in PARTICIPANT_TYPES:
        return subject if isinstance(subject, str) and subject.startswith("did:") else check.issuer
    reference = provider_of(check.credential)
    if reference is None:
        return None
    if reference.startswith("did:"):
        return split_did_url(reference)[0]
    return participants.get(reference, check.issuer)


def _publication(
    index: int,
    check: CredentialCheck,
    label: Label,
    holder: str | None,
    evidence: list[str],
    participants: Mapping[str, str],
) -> Publication:
    pointer = f"/verifiableCredential/{index}/credentialSubject"
    kind = entry_kind(check.credential) or ""
    subject = subject_of(check.credential).get("id")
    if not isinstance(subject, str) or not subject:
        raise ValidationFailed(
            "the credential subject has no id; the catalogue keys entries by subject",
            code="catalogue.no_subject",
            pointer=f"{pointer}/id",
        )
    owner = owner_of(check, participants)
    if not owner:
        raise ValidationFailed(
            f"the {kind} names no provider (gx:providedBy)",
            code="catalogue.no_provider",
            pointer=f"{pointer}/gx:providedBy",
        )
    if holder is not None and holder != owner:
        raise Forbidden(
            f"{holder} presented the {kind} {subject}, whose provider is {owner}; only the "
            "provider (or the participant itself) publishes it",
            code="catalogue.not_owner",
            pointer=f"{pointer}/gx:providedBy",
        )
    return Publication(
        kind=kind,
        subject=subject,
        owner=owner,
        check=check,
        label=label,
        document=project(check.credential),
        evidence=[token for token in evidence if token],
    )
