"""DSP 2025-1 catalog endpoints (HTTPS binding) and the version metadata endpoint.

    POST {DSP_BASE_PATH}/catalog/request         CatalogRequestMessage -> Catalog (+ Link paging)
    GET  {DSP_BASE_PATH}/catalog/datasets/{id}   -> Dataset
    GET  /.well-known/dspace-version             -> VersionResponse (unversioned, no auth)

Protocol endpoints need an authenticated caller: the node's ``dsp_auth`` (a
:class:`CallerAuthenticator`, the DCP token verifier) reads the ``Authorization`` header.
A node without one refuses every protocol request (401 ``dcp.token_missing``) rather
than serve its catalog to anyone. Errors leave as DSP ``CatalogError`` objects that are
also RFC 9457 problems (the binding requires a CatalogError body).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from hansa.connector.catalog import (
    DSP_BASE_PATH,
    AuthenticatedCaller,
    CallerAuthenticator,
    CatalogService,
    catalog_error,
    version_metadata,
)
from hansa.connector.dsp_schemas import validate_message
from hansa.errors import BadRequest, HansaError, Unauthorized
from hansa.web import json_depth


def require_dsp_caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> AuthenticatedCaller:
    """The authenticated caller of a protocol endpoint; 401 when the node cannot check tokens."""
    authenticator: CallerAuthenticator | None = getattr(request.app.state.node, "dsp_auth", None)
    if authenticator is None:
        raise Unauthorized(
            "this node's Dataspace Protocol endpoints require DCP authentication, and no DCP "
            "token verifier is configured on it; the node operator must enable DCP",
            code="dcp.token_missing",
        )
    return authenticator.authenticate(authorization)


DspCaller = Annotated[AuthenticatedCaller, Depends(require_dsp_caller)]


def dsp_error_response(error: HansaError, request: Request) -> JSONResponse:
    body = catalog_error(error)
    body["instance"] = request.url.path
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    return JSONResponse(body, status_code=error.status_code, headers=headers)


class CatalogErrorRoute(APIRoute):
    """A route whose errors (auth, validation, lookups) answer as DSP CatalogErrors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HansaError as exc:
                return dsp_error_response(exc, request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                malformed = first.get("type") == "json_invalid"
                error = BadRequest(
                    "the request body is not valid JSON"
                    if malformed
                    else f"the request is not a valid message: {first.get('msg', '')}",
                    code="request.malformed_json" if malformed else "dsp.invalid_message",
                )
                return dsp_error_response(error, request)

        return route


router = APIRouter(prefix=DSP_BASE_PATH, tags=["dsp catalog"], route_class=CatalogErrorRoute)
well_known_router = APIRouter(tags=["dsp catalog"])


def _catalog(request: Request) -> CatalogService:
    service: CatalogService = request.app.state.node.catalog
    return service


@router.post("/catalog/request", summary="The provider's catalog (DSP CatalogRequestMessage)")
def request_catalog(
    request: Request,
    caller: DspCaller,
    message: Annotated[Any, Body()],
    continuation_token: Annotated[str | None, Query(alias="continuationToken")] = None,
) -> JSONResponse:
    json_depth(message, request.app.state.settings.api.max_json_depth)
    validate_message(message, expected_type="CatalogRequestMessage")
    service = _catalog(request)
    page = service.catalog(caller, message.get("filter"), continuation_token)
    link = page.link_header(service.endpoint.endpoint_url + "/catalog/request")
    return JSONResponse(page.catalog, headers={"Link": link} if link else None)


@router.get("/catalog/datasets/{dataset_id}", summary="One dataset of the catalog (DSP)")
def get_dataset(request: Request, caller: DspCaller, dataset_id: str) -> JSONResponse:
    return JSONResponse(_catalog(request).dataset(caller, dataset_id))


@well_known_router.get(
    "/.well-known/dspace-version", summary="Dataspace Protocol versions this node speaks"
)
def dspace_version(request: Request) -> JSONResponse:
    return JSONResponse(version_metadata(_catalog(request).endpoint))
