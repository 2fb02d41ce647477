"""DCAT-AP 3 output of the catalogue, so that European data portals and CKAN can harvest it.

``GET /catalogue/dcat?page=n`` answers one page of a ``dcat:Catalog`` (Turtle, or JSON-LD
for ``Accept: application/ld+json``) with a ``hydra:PartialCollectionView`` linking the
first, previous, next and last pages, as DCAT-AP harvesters (the EU data portal, CKAN's
``ckanext-dcat``) page through large catalogues.

Each active offering becomes a ``dcat:Dataset`` (IRI: its detail page
``{base}/catalogue/entries/{id}``, ``dct:identifier`` its credential subject) with
``dct:title``, ``dct:description``, ``dcat:keyword``, ``dct:publisher`` (the provider's DID,
a ``foaf:Agent`` named from its LegalPerson), ``dct:spatial`` (EU country authority),
``dct:type`` (the Gaia-X type) and one ``dcat:Distribution`` per data format with
``dct:format`` and ``dcat:mediaType`` (IANA), ``dct:license`` (SPDX), ``dcat:accessURL``
(the provider's Dataspace Protocol address, else the detail page) and ``dcat:accessService``
(a ``dcat:DataService`` with that ``dcat:endpointURL``, conforming to the DSP).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pycountry
import pyoxigraph as ox
from sqlalchemy import func, select

from hansa.catalogue.models import CatalogueEntry
from hansa.catalogue.offering import GX, HANSA, OFFERING_TYPES
from hansa.catalogue.store import CatalogueStore
from hansa.errors import BadRequest

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
HYDRA = "http://www.w3.org/ns/hydra/core#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
COUNTRY = "http://publications.europa.eu/resource/authority/country/"
IANA = "http://www.iana.org/assignments/media-types/"
SPDX = "http://spdx.org/licenses/"
DSP_SPEC = "https://eclipse-dataspace-protocol-base.github.io/DataspaceProtocol/2025-1/"
PREFIXES = {
    "dcat": DCAT,
    "dct": DCT,
    "foaf": FOAF,
    "hydra": HYDRA,
    "gx": GX,
    "hansa": HANSA,
    "xsd": XSD,
}
#: Datasets per page (default and most).
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MEDIA_TURTLE = "text/turtle"
MEDIA_JSONLD = "application/ld+json"

_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_SPDX_ID = re.compile(r"^[A-Za-z0-9.+-]+$")

Triple = tuple[ox.NamedNode | ox.BlankNode, str, ox.NamedNode | ox.BlankNode | ox.Literal]


@dataclass(frozen=True)
class DcatPage:
    """One page of the catalogue as RDF triples, and where the pages are."""

    triples: list[ox.Triple]
    page: int
    last_page: int
    total: int


def _iri(value: str) -> ox.NamedNode | None:
    if ":" not in value or " " in value:
        return None
    try:
        return ox.NamedNode(value)
    except ValueError:
        return None


def _country(code: str) -> ox.NamedNode | None:
    found = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    return ox.NamedNode(COUNTRY + found.alpha_3) if found is not None else None


def _licence(value: str) -> ox.NamedNode | ox.Literal:
    iri = _iri(value) if value.startswith(("http://", "https://")) else None
    if iri is not None:
        return iri
    return ox.NamedNode(SPDX + value) if _SPDX_ID.match(value) else ox.Literal(value)


def _media(value: str) -> ox.NamedNode | ox.Literal:
    return ox.NamedNode(IANA + value) if _MEDIA_TYPE.match(value) else ox.Literal(value)


def dataset_triples(
    entry_id: str,
    owner: str,
    label_level: str,
    document: dict[str, Any],
    base_url: str,
) -> list[Triple]:
    """The DCAT-AP description of one offering (pure)."""
    detail = f"{base_url}/catalogue/entries/{entry_id}"
    dataset = ox.NamedNode(detail)
    name = str(document.get("name") or document.get("subject") or entry_id)
    out: list[Triple] = [
        (dataset, RDF + "type", ox.NamedNode(DCAT + "Dataset")),
        (dataset, DCT + "title", ox.Literal(name)),
        (dataset, DCT + "description", ox.Literal(str(document.get("description") or name))),
        (dataset, DCT + "identifier", ox.Literal(str(document.get("subject") or entry_id))),
        (dataset, DCT + "type", ox.NamedNode(GX + str(document.get("type") or "Resource"))),
        (dataset, HANSA + "labelLevel", ox.Literal(label_level)),
        (dataset, DCAT + "landingPage", dataset),
    ]
    publisher = _iri(owner)
    if publisher is not None:
        out.append((dataset, DCT + "publisher", publisher))
    for keyword in document.get("keywords") or []:
        out.append((dataset, DCAT + "keyword", ox.Literal(str(keyword))))
    for code in document.get("countries") or []:
        place = _country(str(code))
        if place is not None:
            out.append((dataset, DCT + "spatial", place))
    endpoint = document.get("dspEndpoint")
    access = _iri(str(endpoint)) if endpoint else None
    service = None
    if access is not None:
        service = ox.NamedNode(f"{detail}#dsp")
        out += [
            (service, RDF + "type", ox.NamedNode(DCAT + "DataService")),
            (service, DCT + "title", ox.Literal(f"Dataspace Protocol endpoint of {name}")),
            (service, DCAT + "endpointURL", access),
            (service, DCT + "conformsTo", ox.NamedNode(DSP_SPEC)),
            (service, DCAT + "servesDataset", dataset),
        ]
    licences = [_licence(str(v)) for v in document.get("licences") or []]
    for index, media in enumerate(document.get("formats") or ["application/octet-stream"]):
        distribution = ox.NamedNode(f"{detail}#distribution-{index + 1}")
        out += [
            (dataset, DCAT + "distribution", distribution),
            (distribution, RDF + "type", ox.NamedNode(DCAT + "Distribution")),
            (distribution, DCT + "format", _media(str(media))),
            (distribution, DCAT + "mediaType", _media(str(media))),
            (distribution, DCAT + "accessURL", access or dataset),
        ]
        out += [(distribution, DCT + "license", licence) for licence in licences]
        if service is not None:
            out.append((distribution, DCAT + "accessService", service))
    return out


def catalogue_page(
    store: CatalogueStore,
    *,
    base_url: str,
    publisher: str,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> DcatPage:
    """One page of the catalogue as a ``dcat:Catalog`` with its datasets and page links."""
    base_url = base_url.rstrip("/")
    offerings = (CatalogueEntry.state == "active", CatalogueEntry.kind.in_(sorted(OFFERING_TYPES)))
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(
            f"page must be 1 or more and size between 1 and {MAX_PAGE_SIZE}",
            code="catalogue.invalid_page",
            pointer="query:page",
        )
    with store.sessions() as session:
        total = int(session.scalar(select(func.count()).where(*offerings)) or 0)
        rows = list(
            session.scalars(
                select(CatalogueEntry)
                .where(*offerings)
                .order_by(CatalogueEntry.number)
                .offset((page - 1) * size)
                .limit(size)
            )
        )
    names = store.participant_names([row.owner for row in rows] + [publisher])
    catalog_url = f"{base_url}/catalogue/dcat"
    catalog = ox.NamedNode(catalog_url)
    last_page = max(1, -(-total // size))
    if page > last_page:
        raise BadRequest(
            f"page {page} is past the last page ({last_page})",
            code="catalogue.invalid_page",
            pointer="query:page",
        )
    triples: list[Triple] = [
        (catalog, RDF + "type", ox.NamedNode(DCAT + "Catalog")),
        (catalog, DCT + "title", ox.Literal(f"Federated catalogue of {publisher}")),
        (
            catalog,
            DCT + "description",
            ox.Literal(
                "Gaia-X offerings whose credentials and compliance labels this catalogue "
                "has verified; the signed originals are linked from each dataset's page."
            ),
        ),
        (catalog, FOAF + "homepage", ox.NamedNode(f"{base_url}/catalogue/search")),
        (
            catalog,
            HYDRA + "totalItems",
            ox.Literal(str(total), datatype=ox.NamedNode(XSD + "integer")),
        ),
    ]
    agents = {publisher} | {row.owner for row in rows}
    node_publisher = _iri(publisher)
    if node_publisher is not None:
        triples.append((catalog, DCT + "publisher", node_publisher))
    for agent in sorted(agents):
        iri = _iri(agent)
        if iri is not None:
            triples.append((iri, RDF + "type", ox.NamedNode(FOAF + "Agent")))
            triples.append((iri, FOAF + "name", ox.Literal(names.get(agent, agent))))
    view = ox.NamedNode(f"{catalog_url}?page={page}")
    triples += [
        (catalog, HYDRA + "view", view),
        (view, RDF + "type", ox.NamedNode(HYDRA + "PartialCollectionView")),
        (view, HYDRA + "first", ox.NamedNode(f"{catalog_url}?page=1")),
        (view, HYDRA + "last", ox.NamedNode(f"{catalog_url}?page={last_page}")),
    ]
    if page > 1:
        triples.append((view, HYDRA + "previous", ox.NamedNode(f"{catalog_url}?page={page - 1}")))
    if page < last_page:
        triples.append((view, HYDRA + "next", ox.NamedNode(f"{catalog_url}?page={page + 1}")))
    for row in rows:
        dataset = ox.NamedNode(f"{base_url}/catalogue/entries/{row.id}")
        triples.append((catalog, DCAT + "dataset", dataset))
        triples += dataset_triples(row.id, row.owner, row.label_level, row.document, base_url)
    return DcatPage(
        [ox.Triple(s, ox.NamedNode(p), o) for s, p, o in triples], page, last_page, total
    )


def serialise(page: DcatPage, media_type: str) -> bytes:
    """Turtle or JSON-LD (expanded, the form every JSON-LD processor reads)."""
    rdf_format = ox.RdfFormat.JSON_LD if media_type == MEDIA_JSONLD else ox.RdfFormat.TURTLE
    prefixes = PREFIXES if rdf_format == ox.RdfFormat.TURTLE else None
    return ox.serialize(page.triples, format=rdf_format, prefixes=prefixes) or b""


def negotiate(accept: str) -> str:
    accept = accept.lower()
    return MEDIA_JSONLD if "ld+json" in accept or "application/json" in accept else MEDIA_TURTLE


__all__ = [
    "MAX_PAGE_SIZE",
    "PAGE_SIZE",
    "DcatPage",
    "catalogue_page",
    "dataset_triples",
    "negotiate",
    "serialise",
]
