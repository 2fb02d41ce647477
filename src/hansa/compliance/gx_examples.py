"""Complete, conforming example credentials of every supported Gaia-X type.

For tests, the demo and documentation: each function returns (credential id, credential)
pairs that conform to the official 25.11 shapes when checked together. The values are
fictitious (``example.org`` URLs); the VAT number is a valid German test number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hansa.compliance import gx, gx_offerings

GAIAX_TANDC_SHA256 = gx.GAIAX_TERMS_AND_CONDITIONS_HASHES[0]
_VALID_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_HASH = "a" * 64

Pair = tuple[str, dict[str, Any]]


def participant(
    base: str = "https://participant.example.org", did: str | None = None
) -> list[Pair]:
    """LegalPerson + VatID + LeiCode + Issuer credentials of one participant."""
    issuer = did or "did:web:participant.example.org"
    notary = "did:web:notary.example.org"
    vat = gx.registration_number(
        "VatID",
        "DE129273398",
        issuer=notary,
        subject_id=f"{base}/vat#subject",
        country="DE",
        credential_id=f"{base}/vat",
        valid_from=_VALID_FROM,
    )
    lei = gx.registration_number(
        "LeiCode",
        "529900T8BM49AURSDO55",
        issuer=notary,
        subject_id=f"{base}/lei#subject",
        country="DE",
        subdivision="DE-BE",
        credential_id=f"{base}/lei",
        valid_from=_VALID_FROM,
    )
    address = gx.address(
        "DE",
        region="DE30",
        street_address="Unter den Linden 1",
        postal_code="10117",
        locality="Berlin",
    )
    person = gx.legal_person(
        issuer=issuer,
        subject_id=f"{base}/legal-person#subject",
        name="Example Data GmbH",
        legal_address=address,
        registration_numbers=[f"{base}/vat#subject", f"{base}/lei#subject"],
        credential_id=f"{base}/legal-person",
        valid_from=_VALID_FROM,
    )
    issuer_vc = gx.issuer_credential(
        issuer=issuer,
        subject_id=f"{base}/issuer#subject",
        terms_and_conditions_sha256=GAIAX_TANDC_SHA256,
        credential_id=f"{base}/issuer",
        valid_from=_VALID_FROM,
    )
    return [(c["id"], c) for c in (person, vat, lei, issuer_vc)]


def registration_numbers(base: str = "https://participant.example.org") -> list[Pair]:
    """One credential of each registration-number type."""
    notary = "did:web:notary.example.org"
    values: dict[str, tuple[str, dict[str, Any]]] = {
        "VatID": ("DE129273398", {"country": "DE"}),
        "LeiCode": ("529900T8BM49AURSDO55", {"country": "DE", "subdivision": "DE-BE"}),
        "EORI": ("DE123456789012345", {"country_name": "Germany"}),
        "EUID": ("DEB1101.HRB123456", {}),
        "TaxID": ("12/345/67890", {}),
        "LocalRegistrationNumber": ("HRB 123456 B", {}),
    }
    pairs: list[Pair] = []
    for kind, (value, extra) in values.items():
        vc = gx.registration_number(
            kind,
            value,
            issuer=notary,
            subject_id=f"{base}/{kind.lower()}#subject",
            credential_id=f"{base}/{kind.lower()}",
            valid_from=_VALID_FROM,
            **extra,
        )
        pairs.append((vc["id"], vc))
    return pairs


def service_offering(base: str = "https://participant.example.org") -> list[Pair]:
    """A ServiceOffering (with its provider's credentials)."""
    provider = participant(base)
    offering = gx_offerings.service_offering(
        issuer="did:web:participant.example.org",
        subject_id=f"{base}/offering#subject",
        provided_by=f"{base}/legal-person#subject",
        terms=gx_offerings.terms_and_conditions(f"{base}/terms.pdf", _HASH),
        name="Weather history API",
        description="Hourly weather observations since 1950",
        keywords=["weather", "climate"],
        policies=[gx_offerings.access_usage_policy('{"@type": "Set"}')],
        data_protection_regimes=["GDPR2016"],
        provision_type="public",
        endpoint_url=f"{base}/dsp",
        credential_id=f"{base}/offering",
        valid_from=_VALID_FROM,
    )
    return [(offering["id"], offering), *provider]


def data_product(base: str = "https://participant.example.org") -> list[Pair]:
    """A DataProduct (with its provider's credentials)."""
    provider = participant(base)
    terms = gx_offerings.terms_and_conditions
    product = gx_offerings.data_product(
        issuer="did:web:participant.example.org",
        subject_id=f"{base}/product#subject",
        provider=f"{base}/legal-person#subject",
        identifier="weather-history",
        title="Weather history",
        short_description="Hourly observations, Germany, 1950 to today",
        launch_date="2026-01-01",
        terms=terms(f"{base}/service-terms.pdf", _HASH, kind="ServiceTermsAndConditions"),
        usage_terms=terms(f"{base}/usage-terms.pdf", _HASH, kind="UsageTermsAndConditions"),
        usage_data_policy=terms(f"{base}/usage-data.pdf", _HASH),
        legal_documents=[
            gx_offerings.legal_document(
                f"{base}/dpa.pdf", mime_types=["application/pdf"], governing_law_countries=["DE"]
            )
        ],
        datasets=[f"{base}/datasets/weather"],
        parameters=[
            gx_offerings.configuration_parameter("resolution", "Time step", ["hourly", "daily"])
        ],
        name="Weather history",
        keywords=["weather"],
        credential_id=f"{base}/product",
        valid_from=_VALID_FROM,
    )
    return [(product["id"], product), *provider]


def resources(base: str = "https://participant.example.org") -> list[Pair]:
    """A VirtualResource, a SoftwareResource and a PhysicalResource (with the owner)."""
    owner = f"{base}/legal-person#subject"
    virtual = gx_offerings.virtual_resource(
        issuer="did:web:participant.example.org",
        subject_id=f"{base}/dataset#subject",
        copyright_owned_by=[owner, "Deutscher Wetterdienst"],
        licenses=["CC-BY-4.0", "https://example.org/licence"],
        resource_policies=['{"@type": "Set"}'],
        name="Weather observations",
        credential_id=f"{base}/dataset",
        valid_from=_VALID_FROM,
    )
    software = gx_offerings.virtual_resource(
        issuer="did:web:participant.example.org",
        subject_id=f"{base}/software#subject",
        kind="SoftwareResource",
        copyright_owned_by=[owner],
        licenses=["Apache-2.0"],
        resource_policies=["default: allow"],
        credential_id=f"{base}/software",
        valid_from=_VALID_FROM,
    )
    physical = gx_offerings.physical_resource(
        issuer="did:web:participant.example.org",
        subject_id=f"{base}/datacenter#subject",
        locations=[gx.address("DE", region="DE30")],
        maintained_by=[owner],
        name="Berlin datacenter",
        credential_id=f"{base}/datacenter",
        valid_from=_VALID_FROM,
    )
    return [(c["id"], c) for c in (virtual, software, physical)] + participant(base)


def label(base: str = "https://clearing-house.example.org") -> list[Pair]:
    """A LabelCredential issued by a clearing house."""
    vc = gx.label_credential(
        issuer="did:web:clearing-house.example.org",
        subject_id=f"{base}/labels/1#subject",
        level="SC",
        engine_version="hansa-0.1.0",
        rules_version="CD24.11",
        validated_criteria=["P1.1.1", "P1.1.2"],
        compliant_credentials=[
            gx.compliant_credential(
                "https://participant.example.org/legal-person",
                "gx:LegalPerson",
                gx.digest_sri(b"eyJ..."),
            )
        ],
        credential_id=f"{base}/labels/1",
        valid_from=_VALID_FROM,
    )
    return [(vc["id"], vc)]
