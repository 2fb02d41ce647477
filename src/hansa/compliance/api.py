"""HTTP API of the clearing house's compliance service and registry.

Compliance, as the Gaia-X Loire compliance service exposes it:
``POST /v2/api/credential-offers/{standard-compliance|label-level-1|label-level-2|label-level-3}``
with a ``vp+jwt`` body (``Content-Type: application/vp+jwt``) or a JSON-LD presentation
with a Data Integrity proof (``application/json``), and an optional ``vcid`` query
parameter (the id of the label credential). Answers 201 with the ``gx:LabelCredential``
as ``application/vc+jwt``, or problem+json: 409 with every violation in ``errors``.

Registry: public reads under ``/registry/...``; changes need the node's admin API key.

The router finds the :class:`~hansa.compliance.service.ComplianceService` at
``request.app.state.node.compliance``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hansa.compliance.service import OFFERS, ComplianceService
from hansa.errors import BadRequest, ConfigurationError, HansaError
from hansa.identity.vc_jose import VC_MEDIA_TYPE, VC_TYPS, VP_TYPS
from hansa.web import AdminAuth, json_depth

__all__ = ["router"]

router = APIRouter(tags=["compliance"])
admin = [AdminAuth]

# Gaia-X clients send the vp+jwt under several names (some under the vc+ forms).
_JWT_TYPES = {f"application/{typ}" for typ in (*VP_TYPS, *VC_TYPS, "jwt")} | {"text/plain"}
_JSON_TYPES = {"application/json", "application/ld+json", "application/vp+ld+json"}


def _service(request: Request) -> ComplianceService:
    service = getattr(request.app.state.node, "compliance", None)
    if not isinstance(service, ComplianceService):
        raise ConfigurationError(
            "this node does not run the clearing-house role", code="compliance.not_configured"
        )
    return service


async def _presentation(request: Request) -> str | dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if media_type in _JWT_TYPES:
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise BadRequest(
                "a vp+jwt is ASCII (base64url segments and dots)", code="compliance.invalid_jwt"
            ) from exc
    if media_type in _JSON_TYPES:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(
                "the request body is not valid JSON", code="request.malformed_json"
            ) from exc
        json_depth(document, request.app.state.settings.api.max_json_depth)
        if not isinstance(document, dict):
            raise BadRequest("a JSON-LD presentation is an object", code="vp.invalid_presentation")
        return document
    raise HansaError(
        f"send the presentation as application/vp+jwt or application/json, not "
        f"{media_type or 'no content type'}",
        code="compliance.unsupported_media_type",
        status=415,
        pointer="header:content-type",
    )


@router.post(
    "/v2/api/credential-offers/{offer}",
    status_code=201,
    response_class=Response,
    responses={
        201: {
            "content": {VC_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "The gx:LabelCredential as a vc+jwt",
        },
        409: {"description": "Violations, each with credential, path, rule, message, fix"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/vp+jwt": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
    summary=f"Check a presentation and issue a label ({', '.join(OFFERS)})",
)
async def credential_offer(
    request: Request,
    offer: str,
    vcid: Annotated[str | None, Query(description="id of the label credential to issue")] = None,
) -> Response:
    service = _service(request)
    presentation = await _presentation(request)
    issued = await run_in_threadpool(service.issue_label, presentation, offer, vcid=vcid)
    return Response(issued.token, status_code=201, media_type=VC_MEDIA_TYPE)


# --- registry: public reads ---------------------------------------------------------------


@router.get("/registry/trust-anchors", summary="Root CAs, trusted issuers and parties by role")
def trust_anchors(request: Request) -> dict[str, Any]:
    return _service(request).registry.trust_anchors()


@router.get("/registry/terms-and-conditions", summary="The current terms and conditions")
def current_terms(request: Request) -> dict[str, Any]:
    terms = _service(request).registry.current_terms()
    if terms is None:
        raise HansaError(
            "no terms and conditions are set yet", code="registry.no_terms", status=404
        )
    return terms.to_json()


@router.get("/registry/terms-and-conditions/versions", summary="Every T&C version")
def terms_versions(request: Request) -> list[dict[str, Any]]:
    return [t.to_json(with_text=False) for t in _service(request).registry.list_terms()]


@router.get("/registry/terms-and-conditions/versions/{version}", summary="One T&C version")
def terms_version(request: Request, version: str) -> dict[str, Any]:
    return _service(request).registry.terms(version).to_json()


@router.get("/registry/shapes", summary="Installed SHACL shapes")
def shapes(request: Request) -> list[dict[str, Any]]:
    return [s.to_json() for s in _service(request).registry.list_shapes()]


@router.get("/registry/shapes/{name}", summary="One installed shapes graph (Turtle)")
def shapes_turtle(request: Request, name: str) -> Response:
    return Response(_service(request).registry.shapes_turtle(name), media_type="text/turtle")


@router.get("/registry/credential-types", summary="Credential types the shapes can check")
def credential_types(request: Request) -> list[str]:
    return _service(request).known_types()


@router.get("/registry/criteria", summary="The Compliance Document criteria checked")
def criteria(request: Request) -> dict[str, Any]:
    return _service(request).registry.criteria().to_json()


# --- registry: changes (admin) ------------------------------------------------------------


class PartyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    did: str = Field(max_length=512)
    label: str | None = Field(default=None, max_length=256)


class TermsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    text: str
    sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    """Only for a version known by its published hash; otherwise computed from text."""
    current: bool = True


class CurrentTermsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str


class ShapesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = Field(min_length=1, max_length=64)
    turtle: str


class CriteriaRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    document: dict[str, Any]


class RootCaRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pem: str = Field(max_length=65_536)
    label: str | None = Field(default=None, max_length=256)


@router.post(
    "/registry/trust-anchors/root-cas",
    dependencies=admin,
    status_code=201,
    summary="Trust a root CA (keys must chain to one)",
)
def add_root_ca(request: Request, body: RootCaRequest) -> dict[str, Any]:
    root = _service(request).registry.trust.add_root(body.pem, body.label)
    return {"fingerprint": root.fingerprint, "subject": root.subject, "label": root.label}


@router.delete(
    "/registry/trust-anchors/root-cas/{fingerprint}",
    dependencies=admin,
    status_code=204,
    response_class=Response,
    summary="Stop trusting a root CA (by its SHA-256 fingerprint)",
)
def remove_root_ca(request: Request, fingerprint: str) -> Response:
    _service(request).registry.trust.remove_root(fingerprint)
    return Response(status_code=204)


@router.post(
    "/registry/trust-anchors/{role}",
    dependencies=admin,
    status_code=201,
    summary="Trust a DID as notary, compliance_issuer or conformity_assessment_body",
)
def add_party(request: Request, role: str, body: PartyRequest) -> dict[str, Any]:
    return _service(request).registry.add_party(role, body.did, body.label).to_json()


@router.delete(
    "/registry/trust-anchors/{role}/{did:path}",
    dependencies=admin,
    status_code=204,
    response_class=Response,
    summary="Stop trusting a DID in a role",
)
def remove_party(request: Request, role: str, did: str) -> Response:
    _service(request).registry.remove_party(role, did)
    return Response(status_code=204)


@router.post(
    "/registry/terms-and-conditions",
    dependencies=admin,
    status_code=201,
    summary="Add a T&C version (its SHA-256 is computed here)",
)
def add_terms(request: Request, body: TermsRequest) -> dict[str, Any]:
    terms = _service(request).registry.add_terms(
        body.version, body.text, sha256=body.sha256, current=body.current
    )
    return terms.to_json(with_text=False)


@router.put(
    "/registry/terms-and-conditions/current",
    dependencies=admin,
    summary="Make a T&C version the current one",
)
def set_current_terms(request: Request, body: CurrentTermsRequest) -> dict[str, Any]:
    return _service(request).registry.set_current_terms(body.version).to_json(with_text=False)


@router.post(
    "/registry/shapes", dependencies=admin, status_code=201, summary="Install a shapes graph"
)
def install_shapes(request: Request, body: ShapesRequest) -> dict[str, Any]:
    return _service(request).install_shapes(body.name, body.version, body.turtle).to_json()


@router.put("/registry/criteria", dependencies=admin, summary="Replace the criteria table")
def set_criteria(request: Request, body: CriteriaRequest) -> JSONResponse:
    json_depth(body.document, request.app.state.settings.api.max_json_depth)
    installed = _service(request).registry.set_criteria(body.version, body.document)
    return JSONResponse({"version": installed.version, "criteria": len(installed.criteria)})
