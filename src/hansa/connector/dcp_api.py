"""HTTP API of the DCP credential service: the presentation query, and the node's own credentials.

``POST /dcp/presentations/query`` is the DCP 1.0 resolution API (the DID document's
``CredentialService`` entry names ``<base>/dcp`` as the service's base URL). The caller is
authenticated before its body is even parsed, so an unauthenticated caller learns nothing
about what the service would accept. ``/dcp/credentials`` is the node's management API for
the credentials it holds (admin key).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hansa.connector.credential_service import CredentialService
from hansa.errors import BadRequest
from hansa.identity.verifier import VC_JWT_MEDIA_TYPES, unwrap_jwt
from hansa.web import AdminAuth, json_depth

router = APIRouter(prefix="/dcp", tags=["connector: decentralized claims"])


def _service(request: Request) -> CredentialService:
    service: CredentialService = request.app.state.node.credential_service
    return service


def _parse_json(request: Request, body: bytes) -> Any:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(
            f"the request body is not valid JSON: {exc}", code="request.malformed_json"
        ) from exc
    json_depth(value, request.app.state.settings.api.max_json_depth)
    return value


@router.post(
    "/presentations/query",
    summary="DCP presentation query: the holder's credentials as a vp+jwt for the verifier",
    response_model=None,
)
async def presentations_query(request: Request) -> JSONResponse:
    service = _service(request)
    authorization = request.headers.get("authorization")
    # The body's bytes are read (the server caps their size) but parsed only once the caller
    # is authenticated. Database and DID resolution block, so both steps run in one trip to
    # the thread pool: a second trip cost more than parsing the query.
    body = await request.body()

    def authenticate_and_answer() -> dict[str, Any]:
        access = service.authenticate(authorization)
        return service.answer(access, _parse_json(request, body))

    return JSONResponse(await run_in_threadpool(authenticate_and_answer))


class HoldCredentialRequest(BaseModel):
    credential: str | dict[str, Any] = Field(
        description="A vc+jwt issued to this node, bare or as an EnvelopedVerifiableCredential"
    )


@router.get("/credentials", summary="The credentials this node holds", dependencies=[AdminAuth])
def list_credentials(request: Request) -> list[dict[str, Any]]:
    return [c.to_json() for c in _service(request).store.list_all()]


@router.post(
    "/credentials",
    summary="Hold a credential issued to this node",
    status_code=201,
    dependencies=[AdminAuth],
)
def hold_credential(request: Request, body: HoldCredentialRequest) -> dict[str, Any]:
    token = unwrap_jwt(body.credential, VC_JWT_MEDIA_TYPES)
    if token is None:
        raise BadRequest(
            "credential must be a vc+jwt (compact JWS) or an EnvelopedVerifiableCredential",
            code="dcp.credential_unsupported",
            pointer="/credential",
        )
    return _service(request).hold(token).to_json()


@router.delete(
    "/credentials/{credential_id:path}",
    summary="Stop holding a credential",
    status_code=204,
    response_class=Response,
    dependencies=[AdminAuth],
)
def remove_credential(request: Request, credential_id: str) -> Response:
    _service(request).store.remove(credential_id)
    return Response(status_code=204)


__all__ = ["router"]
