"""HTTP API of the identity role: W3C VC-API, DID documents and resolution, keys, status, trust."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hansa.identity.schemas import (
    CertificateChainRequest,
    CreateKeyRequest,
    IssueCredentialRequest,
    RootCaRequest,
    TrustedIssuerRequest,
    UpdateStatusRequest,
    VerifyCredentialRequest,
    VerifyPresentationRequest,
)
from hansa.identity.service import IdentityService
from hansa.web import AdminAuth, json_depth

router = APIRouter(tags=["identity"])
admin = [AdminAuth]

DID_JSON = "application/did+json"
DID_RESOLUTION = 'application/ld+json;profile="https://w3id.org/did-resolution"'


def _identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.node.identity
    return service


def _limit_depth(request: Request, value: Any) -> None:
    json_depth(value, request.app.state.settings.api.max_json_depth)


# --- DIDs -----------------------------------------------------------------------------


@router.get("/.well-known/did.json", summary="This node's DID document")
def did_document(request: Request) -> JSONResponse:
    return JSONResponse(_identity(request).did_document(), media_type=DID_JSON)


@router.get(
    "/.well-known/x509/{key_id}.pem",
    summary="The certificate chain of a key (its x5u)",
    response_class=Response,
)
def key_certificate_chain(request: Request, key_id: str) -> Response:
    return Response(
        _identity(request).certificate_chain(key_id), media_type="application/x-pem-file"
    )


@router.get("/1.0/identifiers/{did:path}", summary="Resolve a DID (DID Resolution result)")
def resolve_identifier(request: Request, did: str) -> JSONResponse:
    # The decoded path turns did:web:host%3A8443 into did:web:host:8443, another DID:
    # take the DID from the raw path, and decode it only if the whole DID was encoded.
    raw = request.scope.get("raw_path", b"").decode("ascii", "replace")
    did = raw.split("/1.0/identifiers/", 1)[-1] or did
    if not did.startswith("did:"):
        did = unquote(did)
    result = _identity(request).resolution_result(did)
    error = result["didResolutionMetadata"].get("error")
    status = {
        None: 200,
        "invalidDid": 400,
        "notFound": 404,
        "methodNotSupported": 501,
        "forbiddenTarget": 403,
    }.get(error, 502)
    return JSONResponse(result, status_code=status, media_type=DID_RESOLUTION)


# --- credentials (W3C VC-API) ---------------------------------------------------------


@router.post(
    "/credentials/issue",
    dependencies=admin,
    status_code=201,
    summary="Issue a credential signed by this node (VC-API)",
)
def issue_credential(request: Request, body: IssueCredentialRequest) -> dict[str, Any]:
    _limit_depth(request, body.credential)
    issued = _identity(request).issue_credential(
        body.credential,
        securing=body.options.securingMechanism,
        with_status=body.options.credentialStatus,
    )
    return {"verifiableCredential": issued}


@router.post("/credentials/verify", summary="Verify a credential (VC-API)")
def verify_credential(request: Request, body: VerifyCredentialRequest) -> dict[str, Any]:
    _limit_depth(request, body.verifiableCredential)
    result = _identity(request).verify_credential(
        body.verifiableCredential,
        trusted_issuer=body.options.trustedIssuer,
        x509=body.options.x509,
    )
    return result.to_json()


@router.post("/presentations/verify", summary="Verify a presentation (VC-API)")
def verify_presentation(request: Request, body: VerifyPresentationRequest) -> dict[str, Any]:
    _limit_depth(request, body.verifiablePresentation)
    result = _identity(request).verify_presentation(
        body.verifiablePresentation,
        challenge=body.options.challenge,
        domain=body.options.domain,
        trusted_issuer=body.options.trustedIssuer,
        x509=body.options.x509,
    )
    return result.to_json()


@router.post(
    "/credentials/status",
    dependencies=admin,
    summary="Revoke, suspend or reactivate a credential this node issued (VC-API)",
)
def update_status(request: Request, body: UpdateStatusRequest) -> dict[str, Any]:
    _identity(request).set_credential_status(body.credentialId, body.status)
    return {"credentialId": body.credentialId, "status": body.status}


@router.get(
    "/status/{list_id}",
    summary="A status list credential of this node (vc+jwt)",
    response_class=Response,
)
def status_list(request: Request, list_id: str) -> Response:
    return Response(
        _identity(request).status_list_credential(list_id), media_type="application/vc+jwt"
    )


# --- keys -----------------------------------------------------------------------------


@router.get("/keys", dependencies=admin, summary="This node's keys (public halves)")
def list_keys(request: Request) -> list[dict[str, object]]:
    return [k.to_json() for k in _identity(request).wallet.list_keys()]


@router.post("/keys", dependencies=admin, status_code=201, summary="Create a key")
def create_key(request: Request, body: CreateKeyRequest) -> dict[str, object]:
    return _identity(request).create_key(body.type, body.id).to_json()


@router.get("/keys/{key_id}", dependencies=admin, summary="One key (public half)")
def get_key(request: Request, key_id: str) -> dict[str, object]:
    return _identity(request).wallet.get(key_id).to_json()


@router.post(
    "/keys/{key_id}/rotate",
    dependencies=admin,
    status_code=201,
    summary="Retire a key and create its successor",
)
def rotate_key(request: Request, key_id: str) -> dict[str, object]:
    return _identity(request).rotate_key(key_id).to_json()


@router.put(
    "/keys/{key_id}/certificate",
    dependencies=admin,
    summary="Attach the X.509 chain that binds a key to a trusted root",
)
def attach_certificate(
    request: Request, key_id: str, body: CertificateChainRequest
) -> dict[str, object]:
    return _identity(request).attach_certificate_chain(key_id, body.pem).to_json()


# --- trust anchors --------------------------------------------------------------------


@router.get("/trust-anchors", dependencies=admin, summary="Trusted root CAs and issuers")
def list_trust_anchors(request: Request) -> list[dict[str, Any]]:
    return _identity(request).list_trust_anchors()


@router.post(
    "/trust-anchors/root-cas", dependencies=admin, status_code=201, summary="Trust a root CA"
)
def add_root_ca(request: Request, body: RootCaRequest) -> dict[str, Any]:
    return _identity(request).add_root_ca(body.pem, body.label)


@router.post(
    "/trust-anchors/issuers",
    dependencies=admin,
    status_code=201,
    summary="Trust an issuer DID",
)
def add_trusted_issuer(request: Request, body: TrustedIssuerRequest) -> dict[str, Any]:
    return _identity(request).add_trusted_issuer(body.did, body.label)


@router.delete(
    "/trust-anchors/{anchor_id:path}", dependencies=admin, status_code=204, response_class=Response
)
def remove_trust_anchor(request: Request, anchor_id: str) -> Response:
    _identity(request).remove_trust_anchor(anchor_id)
    return Response(status_code=204)
