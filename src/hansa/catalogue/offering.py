"""What the catalogue reads from a Gaia-X credential: a plain, searchable projection.

Property names follow the Gaia-X 25.11 shapes (``gx.shacl.ttl``), compact (``gx:keyword``) or
expanded (``https://w3id.org/gaia-x/development#keyword``), with the older or alternative
names that real credentials use:

============== ==========================================================================
field          read from (first found wins; lists are merged)
============== ==========================================================================
type           ``credentialSubject.type`` (``gx:ServiceOffering`` -> ``ServiceOffering``)
provider       ``gx:providedBy``, ``gx:digitalServiceOfferingProvider``, ``gx:dataProvider``
               (an id or ``{"id": ...}``); for a participant, the subject itself
name           ``schema:name``, ``gx:name``, ``gx:digitalServiceOfferingName``, ``gx:legalName``
description    ``schema:description``, ``gx:description``, ``gx:dataProductDescription``,
               ``gx:digitalServiceOfferingShortDescription``
keyword        ``gx:keyword``, ``dcat:keyword``
format         ``gx:formatType``, ``gx:formats``, ``dcat:mediaType``, ``dct:format``
country        ``gx:countryCode`` / ``gx:countryName`` / ``gx:location`` anywhere below the
               subject (ISO 3166-2 ``DE-BE`` counts as ``DE``)
licence        ``gx:license``, ``gx:dataLicense``, ``dct:license``
policy         ``gx:servicePolicy``, ``gx:dataUsagePolicy``, ``odrl:hasPolicy`` (ODRL objects)
price          Hansa extension ``hansa:price``: ``{"hansa:priceModel": "free"|"subscription"|
               "pay-per-use"|"one-off", "hansa:amount": "12.50", "hansa:currency": "EUR",
               "hansa:unit": "month"}`` (Gaia-X has no price property)
dsp endpoint   ``gx:endpoint`` -> ``gx:endpointURL`` of an endpoint whose
               ``gx:standardConformity`` names the Dataspace Protocol, else Hansa's
               ``hansa:dspEndpoint`` (a URL string)
============== ==========================================================================
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

GX = "https://w3id.org/gaia-x/development#"
SCHEMA = "https://schema.org/"
DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
ODRL = "http://www.w3.org/ns/odrl/2/"
HANSA = "https://hansa.dev/catalogue/"

_PREFIXES = {"gx:": GX, "schema:": SCHEMA, "dcat:": DCAT, "dct:": DCT, "odrl:": ODRL}
_PREFIXES_HANSA = {"hansa:": HANSA}

#: Subject types that become catalogue entries; other covered credentials are evidence.
OFFERING_TYPES = frozenset(
    {
        "ServiceOffering",
        "DataProduct",
        "DataResource",
        "DataSet",
        "SoftwareResource",
        "VirtualResource",
        "InstantiatedVirtualResource",
        "PhysicalResource",
    }
)
PARTICIPANT_TYPES = frozenset({"LegalPerson", "Participant"})
LABEL_TYPE = "LabelCredential"
PRICE_MODELS = frozenset({"free", "subscription", "pay-per-use", "one-off", "on-request"})
MAX_VALUES = 32
MAX_TEXT = 4000
DSP_HINTS = ("dataspace-protocol", "dataspace protocol", "dsp", "dspace")


def local_name(value: str) -> str:
    """``gx:ServiceOffering`` or its full IRI -> ``ServiceOffering``."""
    return re.split(r"[#/:]", value)[-1]


@functools.cache
def _aliases(name: str) -> tuple[str, ...]:
    """The spellings of a compact property: compact, expanded, and bare local name."""
    prefix, _, local = name.partition(":")
    base = {**_PREFIXES, **_PREFIXES_HANSA}[prefix + ":"]
    return (name, base + local, local)


def get(node: Mapping[str, Any], *names: str) -> list[Any]:
    """Every value of the first of ``names`` (any spelling) that ``node`` has, as a list."""
    for name in names:
        for alias in _aliases(name):
            if alias in node:
                value = node[alias]
                return value if isinstance(value, list) else [value]
    return []


def _texts(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, dict):
            value = value.get("@value", value.get("id", value.get("@id")))
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).strip()
            if text and text not in out:
                out.append(text[:MAX_TEXT])
    return out[:MAX_VALUES]


def _first(values: list[Any]) -> str | None:
    texts = _texts(values)
    return texts[0] if texts else None


def subject_types(credential: Mapping[str, Any]) -> list[str]:
    """Local names of the credential subject's types (and the credential's own)."""
    subject = credential.get("credentialSubject")
    subject = subject[0] if isinstance(subject, list) and subject else subject
    found: list[str] = []
    sources = [subject.get("type", subject.get("@type")) if isinstance(subject, dict) else None]
    sources.append(credential.get("type"))
    for source in sources:
        for item in source if isinstance(source, list) else [source]:
            if isinstance(item, str) and local_name(item) not in found:
                found.append(local_name(item))
    return found


def subject_of(credential: Mapping[str, Any]) -> dict[str, Any]:
    subject = credential.get("credentialSubject")
    subject = subject[0] if isinstance(subject, list) and subject else subject
    return subject if isinstance(subject, dict) else {}


def entry_kind(credential: Mapping[str, Any]) -> str | None:
    """``ServiceOffering``, ``DataProduct``, ``LegalPerson``... or None (not catalogued)."""
    for name in subject_types(credential):
        if name in OFFERING_TYPES or name in PARTICIPANT_TYPES:
            return name
    return None


def provider_of(credential: Mapping[str, Any]) -> str | None:
    """The provider's DID of an offering, or the participant's own id."""
    subject = subject_of(credential)
    if entry_kind(credential) in PARTICIPANT_TYPES:
        return _first([subject.get("id")])
    return _first(get(subject, "gx:providedBy", "gx:digitalServiceOfferingProvider")) or _first(
        get(subject, "gx:dataProvider")
    )


def _walk(value: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if depth > 6:
        return
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value[:MAX_VALUES]:
            yield from _walk(item, depth + 1)


def _countries(subject: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for node in _walk(subject):
        for text in _texts(get(node, "gx:countryCode", "gx:location", "gx:countryName")):
            code = text.split("-")[0].upper() if re.fullmatch(r"[A-Za-z]{2}(-\w+)?", text) else text
            if code not in found:
                found.append(code)
    return found[:MAX_VALUES]


def _price(subject: Mapping[str, Any]) -> dict[str, str] | None:
    values = get(subject, "hansa:price")
    if not values or not isinstance(values[0], dict):
        return None
    price = values[0]
    out = {
        key: text
        for key in ("priceModel", "amount", "currency", "unit")
        if (text := _first(get(price, f"hansa:{key}"))) is not None
    }
    model = out.get("priceModel", "").lower()
    out["priceModel"] = model if model in PRICE_MODELS else "other"
    return out


def _policies(subject: Mapping[str, Any]) -> list[dict[str, Any]]:
    values = get(subject, "gx:servicePolicy", "gx:dataUsagePolicy", "odrl:hasPolicy")
    return [value for value in values if isinstance(value, dict)][:8]


def _dsp_endpoint(subject: Mapping[str, Any]) -> str | None:
    for endpoint in get(subject, "gx:endpoint"):
        if not isinstance(endpoint, dict):
            continue
        url = _first(get(endpoint, "gx:endpointURL"))
        standards = " ".join(
            _texts(get(endpoint, "gx:standardConformity"))
            + [
                t
                for s in get(endpoint, "gx:standardConformity")
                if isinstance(s, dict)
                for t in _texts(get(s, "gx:title", "schema:name"))
            ]
        ).lower()
        if url and any(hint in standards for hint in DSP_HINTS):
            return url
    return _first(get(subject, "hansa:dspEndpoint"))


def project(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The searchable projection of a verified credential (plain JSON)."""
    subject = subject_of(credential)
    kind = entry_kind(credential) or "Unknown"
    return {
        "type": kind,
        "subject": _first([subject.get("id")]),
        "provider": provider_of(credential),
        "name": _first(
            get(subject, "schema:name", "gx:name", "gx:digitalServiceOfferingName", "gx:legalName")
        )
        or "",
        "description": _first(
            get(
                subject,
                "schema:description",
                "gx:description",
                "gx:dataProductDescription",
                "gx:digitalServiceOfferingShortDescription",
            )
        )
        or "",
        "keywords": _texts(get(subject, "gx:keyword") + get(subject, "dcat:keyword")),
        "formats": _texts(
            get(subject, "gx:formatType", "gx:formats")
            + get(subject, "dcat:mediaType")
            + get(subject, "dct:format")
        ),
        "countries": _countries(subject),
        "licences": _texts(
            get(subject, "gx:license", "gx:dataLicense") + get(subject, "dct:license")
        ),
        "price": _price(subject),
        "policies": _policies(subject),
        "dspEndpoint": _dsp_endpoint(subject),
    }


def facet_values(
    document: Mapping[str, Any], label_level: str, owner: str
) -> list[tuple[str, str]]:
    """The (facet, value) pairs of an entry; ``provider`` is the owning participant's DID."""
    pairs: set[tuple[str, str]] = {
        ("type", str(document["type"])),
        ("label", label_level),
        ("provider", owner),
    }
    for facet, field in (
        ("keyword", "keywords"),
        ("format", "formats"),
        ("country", "countries"),
        ("licence", "licences"),
    ):
        for value in document.get(field) or []:
            text = str(value).strip()
            pairs.add((facet, (text.lower() if facet == "keyword" else text)[:256]))
    price = document.get("price")
    if isinstance(price, dict) and price.get("priceModel"):
        pairs.add(("price_model", str(price["priceModel"])))
    return sorted(pairs)
