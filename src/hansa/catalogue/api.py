"""HTTP API of the catalogue: publish, search, read, delete, the change feed, SPARQL, DCAT,
and the peers it follows.

Reading is open to anyone who reaches the node (the federation's catalogue is public within
it): ``GET /catalogue/search``, ``/entries/{id}``, ``/changes`` (with the signed originals,
for peers), ``GET|POST /catalogue/sparql`` (read-only, time-limited:
:mod:`hansa.catalogue.sparql`) and ``GET /catalogue/dcat`` (DCAT-AP 3, paged). Managing peers
(``GET|POST|DELETE /catalogue/peers``, ``POST /catalogue/peers/sync``) needs the admin API
key. Writes need a signature:

- ``POST /catalogue/entries`` with a ``vp+jwt`` (``aud`` = this node's DID) from the provider
  or the participant itself, or bare ``vc+jwt`` tokens with the admin API key;
- ``DELETE /catalogue/entries/{id}`` with ``Authorization: Bearer <vp+jwt>`` from the owner:
  ``aud`` = this node's DID and ``nonce`` = ``DELETE /catalogue/entries/{id}`` (so the token
  deletes that one entry and nothing else; its ``exp`` bounds replay), or the admin API key.
  Someone else's entry answers 404, exactly like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from hansa.catalogue import dcat
from hansa.catalogue.federation import CatalogueFederation
from hansa.catalogue.feed import change_feed
from hansa.catalogue.schemas import PeerRequest, PublishRequest
from hansa.catalogue.search import FACETS, build_query
from hansa.catalogue.service import CatalogueService
from hansa.catalogue.sparql import MAX_QUERY_CHARS, negotiate, serialise
from hansa.errors import BadRequest, ConfigurationError, Unauthorized
from hansa.web import require_admin

router = APIRouter(prefix="/catalogue", tags=["catalogue"])


def _catalogue(request: Request) -> CatalogueService:
    service = getattr(request.app.state.node, "catalogue", None)
    if not isinstance(service, CatalogueService):
        raise ConfigurationError(
            "this node has no catalogue; add the 'catalogue' role", code="catalogue.disabled"
        )
    return service


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _admin(request: Request, token: str | None) -> None:
    credentials = (
        HTTPAuthorizationCredentials(scheme="Bearer", credentials=token) if token else None
    )
    require_admin(request, credentials)


def delete_nonce(entry_id: str) -> str:
    """The ``nonce`` a deletion request's vp+jwt must carry for ``entry_id``."""
    return f"DELETE /catalogue/entries/{entry_id}"


@router.post("/entries", status_code=201, summary="Publish verified, labelled credentials")
def publish(request: Request, body: PublishRequest, response: Response) -> dict[str, Any]:
    catalogue = _catalogue(request)
    if body.verifiablePresentation is not None:
        published = catalogue.ingest_presentation(body.verifiablePresentation)
    else:
        _admin(request, _bearer(request))
        published = catalogue.ingest_credentials(body.verifiableCredentials or [])
    if all(p.change == "unchanged" for p in published):
        response.status_code = 200
    return {"entries": [p.to_json() for p in published]}


@router.get("/search", summary="Full-text search with facets, highlights and pages")
def search(
    request: Request,
    q: Annotated[str | None, Query(max_length=512)] = None,
    type: Annotated[list[str] | None, Query()] = None,
    provider: Annotated[list[str] | None, Query()] = None,
    label: Annotated[list[str] | None, Query()] = None,
    keyword: Annotated[list[str] | None, Query()] = None,
    format: Annotated[list[str] | None, Query()] = None,
    country: Annotated[list[str] | None, Query()] = None,
    licence: Annotated[list[str] | None, Query()] = None,
    price_model: Annotated[list[str] | None, Query()] = None,
    page: Annotated[int | None, Query()] = None,
    size: Annotated[int, Query()] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    given = dict(
        zip(
            FACETS,
            (type, provider, label, keyword, format, country, licence, price_model),
            strict=True,
        )
    )
    filters = {facet: values for facet, values in given.items() if values}
    query = build_query(q, filters, size=size)
    catalogue = _catalogue(request)
    result = catalogue.search(query, page=page, cursor=cursor)
    if catalogue.federation is not None:
        result["peers"] = catalogue.federation.problems()
    return result


@router.get("/entries/{entry_id}", summary="An offering in full, with its signed originals")
def entry(request: Request, entry_id: str) -> dict[str, Any]:
    return _catalogue(request).entry(entry_id)


@router.delete(
    "/entries/{entry_id}", status_code=204, response_class=Response, summary="Delete your entry"
)
def delete_entry(request: Request, entry_id: str) -> Response:
    catalogue = _catalogue(request)
    token = _bearer(request)
    if token is None:
        raise Unauthorized(
            "sign the request: 'Authorization: Bearer <vp+jwt>' from the entry's owner "
            f"(aud {catalogue.node_did}, nonce {delete_nonce(entry_id)!r})",
            code="auth.missing_credentials",
        )
    if token.count(".") == 2:
        checked = catalogue.verifier.verify_presentation(
            token, domain=catalogue.node_did, challenge=delete_nonce(entry_id)
        )
        catalogue.delete(entry_id, checked.holder)
    else:
        _admin(request, token)
        catalogue.delete(entry_id, None)
    return Response(status_code=204)


@router.get("/changes", summary="The change feed: what changed after a sequence number")
def changes(
    request: Request,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    # Live entries carry their signed originals, so that peers can verify them themselves.
    return JSONResponse(change_feed(_catalogue(request), since, limit))


def _answer_sparql(request: Request, text: str) -> Response:
    result = _catalogue(request).sparql_endpoint(text)
    media_type = negotiate(request.headers.get("accept", ""), result.form)
    headers = {"Hansa-Results-Truncated": "true"} if result.truncated else {}
    return Response(serialise(result, media_type), media_type=media_type, headers=headers)


@router.get("/sparql", summary="SPARQL 1.1 query (read-only, time-limited)")
def sparql_get(
    request: Request, query: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = ""
) -> Response:
    return _answer_sparql(request, query)


@router.post("/sparql", summary="SPARQL 1.1 query in the body (application/sparql-query)")
async def sparql_post(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type == "application/sparql-query":
        text = body.decode("utf-8", errors="replace")
    elif content_type == "application/x-www-form-urlencoded":
        text = (parse_qs(body.decode("utf-8", errors="replace")).get("query") or [""])[0]
    else:
        raise BadRequest(
            "send the query as application/sparql-query or as the form field 'query'",
            code="catalogue.sparql_invalid",
            pointer="header:content-type",
        )
    # Evaluation blocks: off the event loop, like FastAPI's sync endpoints.
    return await run_in_threadpool(_answer_sparql, request, text)


def _federation(request: Request) -> CatalogueFederation:
    _admin(request, _bearer(request))
    federation = _catalogue(request).federation
    if federation is None:
        raise ConfigurationError(
            "this catalogue follows no peers (no federation configured)",
            code="catalogue.no_federation",
        )
    return federation


@router.get("/peers", summary="The catalogues this one follows, with their health (admin)")
def list_peers(request: Request) -> dict[str, Any]:
    return {"peers": _federation(request).peers()}


@router.post("/peers", status_code=201, summary="Follow another catalogue (admin)")
def add_peer(request: Request, body: PeerRequest) -> dict[str, Any]:
    return _federation(request).add_peer(body.url)


@router.delete("/peers", summary="Stop following a catalogue; its entries leave (admin)")
def remove_peer(request: Request, url: Annotated[str, Query(max_length=512)]) -> dict[str, Any]:
    return {"url": url, "removedEntries": _federation(request).remove_peer(url)}


@router.post("/peers/sync", summary="Read every peer's change feed now (admin)")
def sync_peers(request: Request) -> dict[str, Any]:
    return {"peers": [report.to_json() for report in _federation(request).sync()]}


@router.get("/dcat", summary="The catalogue as DCAT-AP 3 (Turtle or JSON-LD), paged for harvesters")
def dcat_catalogue(
    request: Request,
    page: Annotated[int, Query()] = 1,
    size: Annotated[int, Query()] = dcat.PAGE_SIZE,
) -> Response:
    catalogue = _catalogue(request)
    node = request.app.state.node
    result = dcat.catalogue_page(
        catalogue.store,
        base_url=node.settings.base_url,
        publisher=catalogue.node_did,
        page=page,
        size=size,
    )
    media_type = dcat.negotiate(request.headers.get("accept", ""))
    return Response(dcat.serialise(result, media_type), media_type=media_type)
