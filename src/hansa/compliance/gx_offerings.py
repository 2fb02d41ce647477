"""Gaia-X 25.11 offerings and resources: ServiceOffering, DataProduct, Virtual/PhysicalResource.

Builders in the style of :mod:`hansa.compliance.gx`. Links to participants (``providedBy``,
``maintainedBy``...) are subject ids of LegalPerson credentials: the shapes check that they
are ``gx:LegalPerson`` nodes, so submit those credentials together with the offering.

Gaia-X 25.11 has no ``gx:DataResource`` class any more: data is described as a
``gx:DataProduct`` (with a ``gx:DataProductDescription``) or as a ``gx:VirtualResource``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hansa.compliance.gx import (
    any_uri,
    credential,
    gx_error,
    iri,
    put_optional,
    reference,
    sha256_hex,
)

PROVISION_TYPES = ("private", "public", "hybrid")
DATA_PROTECTION_REGIMES = ("GDPR2016", "LGPD2019", "PDPA2012", "CCPA2018", "VCDPA2021")
POLICY_LANGUAGES = ("ODRL", "XACML", "Rego", "JSON", "Other")
TERMS_TYPES = ("TermsAndConditions", "ServiceTermsAndConditions", "UsageTermsAndConditions")


def _one_of(value: str | None, allowed: Sequence[str], code: str, field: str) -> str | None:
    if value is not None and value not in allowed:
        raise gx_error(f"{field} {value!r} is not one of {', '.join(allowed)}", code, field)
    return value


def terms_and_conditions(
    url: str, sha256: str, *, kind: str = "TermsAndConditions", field: str = "terms"
) -> dict[str, Any]:
    """A terms document by URL and SHA-256 (``kind``: one of TERMS_TYPES)."""
    if kind not in TERMS_TYPES:
        raise gx_error(f"unknown terms type {kind!r}", "gx.invalid_terms_type", f"{field}/type")
    return {
        "type": f"gx:{kind}",
        "gx:url": any_uri(url, f"{field}/url"),
        "gx:hash": sha256_hex(sha256, f"{field}/hash"),
    }


def legal_document(
    url: str,
    *,
    mime_types: Sequence[str] = (),
    governing_law_countries: Sequence[str] = (),
    field: str = "legalDocuments",
) -> dict[str, Any]:
    """A ``gx:LegalDocument`` (contract, DPA, SLA ...) by URL."""
    from hansa.compliance.gx import country_code

    node: dict[str, Any] = {"type": "gx:LegalDocument", "gx:url": any_uri(url, f"{field}/url")}
    put_optional(node, "gx:mimeTypes", list(mime_types))
    put_optional(
        node,
        "gx:governingLawCountries",
        [country_code(c, f"{field}/governingLawCountries") for c in governing_law_countries],
    )
    return node


def access_usage_policy(document: str, *, language: str = "ODRL") -> dict[str, Any]:
    """A ``gx:AccessUsagePolicy``: the policy text (e.g. ODRL JSON) and its language."""
    _one_of(language, POLICY_LANGUAGES, "gx.invalid_policy_language", "policyLanguage")
    return {
        "type": "gx:AccessUsagePolicy",
        "gx:policyLanguage": language,
        "gx:policyDocument": document,
    }


def service_offering(
    *,
    issuer: str,
    subject_id: str,
    provided_by: str,
    terms: Mapping[str, Any],
    name: str | None = None,
    description: str | None = None,
    keywords: Sequence[str] = (),
    policies: Sequence[Mapping[str, Any]] = (),
    data_protection_regimes: Sequence[str] = (),
    provision_type: str | None = None,
    endpoint_url: str | None = None,
    legal_documents: Sequence[Mapping[str, Any]] = (),
    depends_on: Sequence[str] = (),
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A ``gx:ServiceOffering`` provided by the LegalPerson ``provided_by`` under ``terms``."""
    for regime in data_protection_regimes:
        _one_of(regime, DATA_PROTECTION_REGIMES, "gx.invalid_regime", "dataProtectionRegime")
    _one_of(provision_type, PROVISION_TYPES, "gx.invalid_provision_type", "provisionType")
    subject: dict[str, Any] = {
        "id": iri(subject_id, "subjectId"),
        "type": "gx:ServiceOffering",
        "gx:providedBy": reference(provided_by, "providedBy"),
        "gx:serviceOfferingTermsAndConditions": [dict(terms)],
    }
    put_optional(subject, "name", name)
    put_optional(subject, "description", description)
    put_optional(subject, "gx:keyword", list(keywords))
    put_optional(subject, "gx:servicePolicy", [dict(p) for p in policies])
    put_optional(subject, "gx:dataProtectionRegime", list(data_protection_regimes))
    put_optional(subject, "gx:provisionType", provision_type)
    if endpoint_url is not None:
        # 25.11 requires an Endpoint to name a standard it conforms to: Hansa's connectors
        # speak the Dataspace Protocol.
        subject["gx:endpoint"] = {
            "type": "gx:Endpoint",
            "gx:endpointURL": any_uri(endpoint_url, "endpointURL"),
            "gx:standardConformity": {
                "type": "gx:StandardConformity",
                "dcterms:title": "Eclipse Dataspace Protocol 2025-1",
                "gx:standardReference": any_uri(
                    "https://eclipse-dataspace-protocol-base.github.io/DataspaceProtocol/2025-1/",
                    "standardReference",
                ),
            },
        }
    put_optional(subject, "gx:legalDocuments", [dict(d) for d in legal_documents])
    put_optional(subject, "gx:dependsOn", [reference(d, "dependsOn") for d in depends_on])
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def configuration_parameter(
    name: str, description: str, admissible_values: Sequence[str]
) -> dict[str, Any]:
    """A ``gx:DataProductConfigurationParameter`` (a knob the consumer sets, and its values)."""
    if not admissible_values:
        raise gx_error(
            f"parameter {name!r} needs at least one admissible value",
            "gx.missing_admissible_values",
            "parameterAdmissibleValues",
        )
    return {
        "type": "gx:DataProductConfigurationParameter",
        "gx:parameterName": name,
        "gx:parameterDescription": description,
        "gx:parameterAdmissibleValues": list(admissible_values),
    }


def data_product(
    *,
    issuer: str,
    subject_id: str,
    provider: str,
    identifier: str,
    title: str,
    short_description: str,
    launch_date: str,
    terms: Mapping[str, Any],
    usage_terms: Mapping[str, Any],
    usage_data_policy: Mapping[str, Any],
    legal_documents: Sequence[Mapping[str, Any]],
    datasets: Sequence[str],
    parameters: Sequence[Mapping[str, Any]],
    name: str | None = None,
    description: str | None = None,
    keywords: Sequence[str] = (),
    end_date: str | None = None,
    data_rights_holders: Sequence[str] = (),
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A ``gx:DataProduct``: a digital offering of data by the LegalPerson ``provider``.

    ``terms``/``usage_terms``/``usage_data_policy`` come from :func:`terms_and_conditions`
    (kinds ServiceTermsAndConditions, UsageTermsAndConditions, TermsAndConditions);
    ``datasets`` are the dcat:Dataset descriptions (text or a DCAT id as text).
    """
    if not legal_documents:
        raise gx_error(
            "a data product names at least one legal document",
            "gx.missing_legal_documents",
            "legalDocuments",
        )
    if not datasets:
        raise gx_error(
            "a data product describes at least one dataset", "gx.missing_dataset", "datasets"
        )
    if not parameters:
        raise gx_error(
            "a data product has at least one configuration parameter",
            "gx.missing_parameters",
            "parameters",
        )
    subject: dict[str, Any] = {
        "id": iri(subject_id, "subjectId"),
        "type": "gx:DataProduct",
        "gx:digitalServiceOfferingIdentifier": identifier,
        "gx:digitalServiceOfferingName": title,
        "gx:digitalServiceOfferingShortDescription": short_description,
        "gx:digitalServiceOfferingLaunchDate": launch_date,
        "gx:digitalServiceOfferingProvider": reference(provider, "provider"),
        "gx:digitalServiceOfferingTermsAndConditions": dict(terms),
        "gx:digitalServiceUsageTermsAndConditions": dict(usage_terms),
        "gx:digitalServiceUsageDataPolicy": dict(usage_data_policy),
        "gx:digitalServiceLegalDocuments": [dict(d) for d in legal_documents],
        "gx:dataProductDescription": {
            "type": "gx:DataProductDescription",
            "dcat:Dataset": list(datasets),
            "gx:dataProductConfigurationParameters": [dict(p) for p in parameters],
        },
    }
    put_optional(subject, "name", name)
    put_optional(subject, "description", description)
    put_optional(subject, "gx:keyword", list(keywords))
    put_optional(subject, "gx:digitalServiceOfferingEndDate", end_date)
    put_optional(
        subject,
        "gx:dataRightsHolders",
        [reference(h, "dataRightsHolders") for h in data_rights_holders],
    )
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _owner(value: str, field: str) -> Any:
    """A LegalPerson link when ``value`` is an IRI, else the owner's name as text."""
    if ":" in value and " " not in value:
        return reference(value, field)
    return value


def virtual_resource(
    *,
    issuer: str,
    subject_id: str,
    copyright_owned_by: Sequence[str],
    licenses: Sequence[str],
    resource_policies: Sequence[str],
    kind: str = "VirtualResource",
    name: str | None = None,
    description: str | None = None,
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A ``gx:VirtualResource`` (or ``gx:SoftwareResource``): data or software, its owners,
    licences (SPDX ids or licence URLs) and policies (e.g. ODRL as text)."""
    if kind not in ("VirtualResource", "SoftwareResource"):
        raise gx_error(f"unknown resource type {kind!r}", "gx.invalid_resource_type", "type")
    for values, what in (
        (copyright_owned_by, "copyrightOwnedBy"),
        (licenses, "license"),
        (resource_policies, "resourcePolicy"),
    ):
        if not values:
            raise gx_error(f"a virtual resource needs {what}", "gx.missing_field", what)
    subject: dict[str, Any] = {
        "id": iri(subject_id, "subjectId"),
        "type": f"gx:{kind}",
        "gx:copyrightOwnedBy": [_owner(o, "copyrightOwnedBy") for o in copyright_owned_by],
        "gx:license": [
            any_uri(v, "license") if "://" in v else v for v in licenses
        ],  # SPDX identifiers are plain strings, licence URLs xsd:anyURI
        "gx:resourcePolicy": list(resource_policies),
    }
    put_optional(subject, "name", name)
    put_optional(subject, "description", description)
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def physical_resource(
    *,
    issuer: str,
    subject_id: str,
    locations: Sequence[Mapping[str, Any]],
    maintained_by: Sequence[str],
    owned_by: Sequence[str] = (),
    manufactured_by: Sequence[str] = (),
    name: str | None = None,
    description: str | None = None,
    credential_id: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A ``gx:PhysicalResource`` (a datacenter, a machine): where it is and who maintains it."""
    if not locations:
        raise gx_error("a physical resource needs a location", "gx.missing_field", "location")
    if not maintained_by:
        raise gx_error("a physical resource needs maintainedBy", "gx.missing_field", "maintainedBy")
    subject: dict[str, Any] = {
        "id": iri(subject_id, "subjectId"),
        "type": "gx:PhysicalResource",
        "gx:location": [dict(a) for a in locations],
        "gx:maintainedBy": [reference(m, "maintainedBy") for m in maintained_by],
    }
    put_optional(subject, "gx:ownedBy", [reference(o, "ownedBy") for o in owned_by])
    put_optional(
        subject, "gx:manufacturedBy", [reference(m, "manufacturedBy") for m in manufactured_by]
    )
    put_optional(subject, "name", name)
    put_optional(subject, "description", description)
    return credential(
        subject,
        issuer=issuer,
        credential_id=credential_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )
