"""The demo's publishing and discovery: Acme describes a data product, gets it labelled by
the clearing house over HTTPS (the label's issuance publishes it in the clearing house's
catalogue), and Nordlicht finds it with a full-text search over HTTPS.

The product is a Gaia-X 25.11 ``gx:DataProduct`` built with
:mod:`hansa.compliance.gx_offerings`, presented with Acme's LegalPerson, its notarised VAT
number and its Issuer credential (the shapes check that the provider is a LegalPerson).
25.11 shapes are closed: a DataProduct carries its keywords and a contact address (whose
country the catalogue reads) but no media type, licence or DSP endpoint of its own.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from hansa.compliance import gx, gx_offerings
from hansa.compliance.gx import any_uri
from hansa.demo.federation import LocalFederation
from hansa.demo.onboarding import DEMO_PARTICIPANTS, OnboardingFailed, _answer

SEARCH = "traffic hamburg"


def _data_product(base: str, did: str, legal_person: str) -> dict[str, Any]:
    terms = gx_offerings.terms_and_conditions
    digest = "0" * 64
    product = gx_offerings.data_product(
        issuer=did,
        subject_id=f"{base}/offerings/traffic-hamburg#cs",
        provider=legal_person,
        identifier="traffic-hamburg",
        title="Traffic counts Hamburg",
        short_description="Vehicles per minute from 1,200 road sensors in Hamburg, live",
        launch_date=date.today().isoformat(),
        terms=terms(f"{base}/terms/service.pdf", digest, kind="ServiceTermsAndConditions"),
        usage_terms=terms(f"{base}/terms/usage.pdf", digest, kind="UsageTermsAndConditions"),
        usage_data_policy=terms(f"{base}/terms/data-policy.pdf", digest),
        legal_documents=[
            gx_offerings.legal_document(
                f"{base}/terms/licence.pdf",
                mime_types=["application/pdf"],
                governing_law_countries=["DE"],
            )
        ],
        datasets=[f"{base}/datasets/traffic-hamburg"],
        parameters=[
            gx_offerings.configuration_parameter(
                "resolution", "time step of the counts", ["minute", "hour"]
            )
        ],
        name="Traffic counts Hamburg",
        description="Vehicles per minute from 1,200 road sensors in Hamburg, as CSV",
        keywords=["traffic", "hamburg", "mobility"],
        credential_id=f"{base}/credentials/traffic-hamburg",
    )
    product["credentialSubject"]["gx:digitalServiceOfferingContactInformation"] = {
        "type": "gx:ContactInformation",
        "gx:url": any_uri(f"{base}/contact", "contact/url"),
        "gx:postalAddress": gx.address("DE", region="DE60"),
    }
    return product


def publish_offering(federation: LocalFederation) -> str:
    """Acme presents its data product with its participant credentials for a label."""
    house, provider = federation["clearing-house"], federation["provider"]
    who = next(p for p in DEMO_PARTICIPANTS if p.name == "provider")
    identity, base = provider.node.identity, provider.base_url
    vat_subject = f"{base}/credentials/vat-id#cs"
    legal_person_id = f"{base}/credentials/legal-person#cs"
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
            issuer=provider.did,
            subject_id=legal_person_id,
            credential_id=f"{base}/credentials/legal-person",
            name=provider.spec.label,
            legal_address=gx.address(who.country, region=who.region),
            registration_numbers=[vat_subject],
        )
        issuer = gx.issuer_credential(
            issuer=provider.did,
            subject_id=f"{base}/credentials/issuer#cs",
            credential_id=f"{base}/credentials/issuer",
            terms_and_conditions_sha256=terms["sha256"],
        )
        product = _data_product(base, provider.did, legal_person_id)
        presentation = identity.issue_presentation(
            [
                registration,
                identity.sign_jwt_credential(legal_person),
                identity.sign_jwt_credential(issuer),
                identity.sign_jwt_credential(product),
            ]
        )
        _answer(
            client.post(
                "/v2/api/credential-offers/standard-compliance",
                content=presentation,
                params={"vcid": f"{base}/credentials/label-{uuid.uuid4().hex[:12]}"},
                headers={"Content-Type": "application/vp+jwt"},
            ),
            201,
            "asking for a compliance label for the data product",
        )
        found = _answer(
            client.get("/catalogue/search", params={"q": "Traffic counts Hamburg"}),
            200,
            "reading the clearing house's catalogue",
        ).json()
    entries = [i for i in found["items"] if i["subject"] == product["credentialSubject"]["id"]]
    if len(entries) != 1:
        raise OnboardingFailed(
            f"the labelled data product is not in the clearing house's catalogue: {found}"
        )
    entry = entries[0]
    return (
        f'{provider.spec.label} describes gx:DataProduct "{entry["name"]}" '
        f"(keywords {', '.join(entry['keywords'])}), presents it with its LegalPerson\n"
        f"  label {entry['label']} from the clearing house; published in its catalogue as "
        f"entry {entry['id'][:12]}…"
    )


def search_offerings(federation: LocalFederation) -> str:
    """Nordlicht searches the clearing house's catalogue over HTTPS."""
    house, consumer = federation["clearing-house"], federation["consumer"]
    with house.client(federation.ca_file, admin=False) as client:
        found = _answer(
            client.get("/catalogue/search", params={"q": SEARCH, "type": "DataProduct"}),
            200,
            "searching the catalogue",
        ).json()
    if found["total"] != 1:
        raise OnboardingFailed(f"'{SEARCH}' found {found['total']} offerings, not 1: {found}")
    facets = {
        name: ", ".join(f"{v['value']} ({v['count']})" for v in values)
        for name, values in found["facets"].items()
        if name in ("type", "country", "label") and values
    }
    item = found["items"][0]
    return (
        f"{consumer.spec.label} searches '{SEARCH}' → {found['total']} result: "
        f'"{item["name"]}" by {item["provider"]["name"] or item["provider"]["id"]}\n'
        f"  facets: type {facets.get('type')}; country {facets.get('country')}; "
        f"label {facets.get('label')}"
    )
