"""The demo's onboarding: each participant notarised and labelled by the clearing house.

For each participant, over HTTPS to the clearing house: read the current terms and
conditions, have the notary check the VAT number and attest it, sign a LegalPerson and an
Issuer credential (built with :mod:`hansa.compliance.gx`), present the three as a
``vp+jwt`` for standard compliance, and keep the label credential in the participant's
credential store, where its connector can present it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from hansa.compliance import gx
from hansa.demo.federation import LocalFederation, RunningNode
from hansa.identity.keys import b64url_decode

LEVEL_NAMES = {
    "SC": "Standard Compliance",
    "L1": "Label Level 1",
    "L2": "Label Level 2",
    "L3": "Label Level 3",
}


@dataclass(frozen=True)
class DemoParticipant:
    name: str
    vat_id: str
    country: str
    region: str
    """NUTS-2 region of the legal address."""


DEMO_PARTICIPANTS = (
    DemoParticipant("provider", "DE129273398", "DE", "DE60"),
    DemoParticipant("consumer", "DE811907980", "DE", "DEF0"),
)


class OnboardingFailed(Exception):
    """The clearing house refused a step of the onboarding; the message says which and why."""


def _answer(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        try:
            body: Any = response.json()
            reason = f"{body.get('code')}: {body.get('detail')}"
            errors = body.get("errors")
            if errors:
                reason += "; " + "; ".join(f"{e.get('rule')} {e.get('message')}" for e in errors)
        except ValueError:
            reason = response.text[:200]
        raise OnboardingFailed(f"{what}: HTTP {response.status_code} {reason}")
    return response


def _payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return payload


def _how_checked(registration: dict[str, Any]) -> str:
    evidence = registration.get("evidence") or []
    entries = evidence if isinstance(evidence, list) else [evidence]
    online = [
        e["description"].removeprefix("confirmed by ")
        for e in entries
        if isinstance(e, dict) and str(e.get("description", "")).startswith("confirmed by ")
    ]
    if online:
        return f"check digits and {', '.join(online)}"
    return "check digits; VIES not configured"


def onboard(federation: LocalFederation, who: DemoParticipant) -> str:
    """Notarise ``who``'s VAT number, get its label, keep it; returns what happened."""
    house, participant = federation["clearing-house"], federation[who.name]
    identity = participant.node.identity
    base = participant.base_url
    vat_subject = f"{base}/credentials/vat-id#cs"
    with house.client(federation.ca_file, admin=False) as client:
        terms = _answer(
            client.get("/registry/terms-and-conditions"), 200, "reading the terms"
        ).json()
        registration = _answer(
            client.get(
                f"/v2/registration-numbers/vat-id/{who.vat_id}",
                params={"subjectId": vat_subject, "vcId": f"{base}/credentials/vat-id"},
            ),
            200,
            "checking the VAT number",
        ).text.strip()
        legal_person = gx.legal_person(
            issuer=participant.did,
            subject_id=f"{base}/credentials/legal-person#cs",
            credential_id=f"{base}/credentials/legal-person",
            name=participant.spec.label,
            legal_address=gx.address(who.country, region=who.region),
            registration_numbers=[vat_subject],
        )
        issuer = gx.issuer_credential(
            issuer=participant.did,
            subject_id=f"{base}/credentials/issuer#cs",
            credential_id=f"{base}/credentials/issuer",
            terms_and_conditions_sha256=terms["sha256"],
        )
        presentation = identity.issue_presentation(
            [
                registration,
                identity.sign_jwt_credential(legal_person),
                identity.sign_jwt_credential(issuer),
            ]
        )
        label = _answer(
            client.post(
                "/v2/api/credential-offers/standard-compliance",
                content=presentation,
                params={"vcid": f"{base}/credentials/label-{uuid.uuid4().hex[:12]}"},
                headers={"Content-Type": "application/vp+jwt"},
            ),
            201,
            "asking for a compliance label",
        ).text.strip()
    keep_label(participant, label)
    credential = _payload(label)
    level = credential["credentialSubject"]["gx:labelLevel"]
    until = str(credential.get("validUntil", "?"))[:10]
    return (
        f"{participant.spec.label}: VAT number {who.vat_id} checked by the notary "
        f"({_how_checked(_payload(registration))})\n"
        f"  LegalPerson + Issuer (T&C {terms['version']}, sha256 {terms['sha256'][:12]}…) "
        "signed, presented as vp+jwt\n"
        f"  compliance: {LEVEL_NAMES.get(level, level)} "
        f"(label credential valid until {until})"
    )


def keep_label(participant: RunningNode, token: str) -> None:
    """Keep the label in the participant's credential store, verified first.

    Not through ``CredentialService.hold``: that keeps only credentials whose subject is
    the node's DID, and a label's subject is the label itself (``vcid#cs``); the label is
    the participant's all the same, issued for the presentation it signed.
    """
    service = participant.node.credential_service
    if service is None:
        raise OnboardingFailed(f"{participant.spec.label} runs no credential service")
    verified = participant.node.identity.verify_credential(token, x509=True)
    service.store.put(token, verified.credential, verified.issuer)


def onboard_participants(federation: LocalFederation) -> str:
    """Onboard every demo participant; one paragraph each."""
    return "\n".join(onboard(federation, who) for who in DEMO_PARTICIPANTS)
