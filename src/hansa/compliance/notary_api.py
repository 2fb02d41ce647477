"""The notary's HTTP API, as the Gaia-X registration-number notary (v2) exposes it.

``GET /v2/registration-numbers/{type}/{number}?vcId=...&subjectId=...`` checks ``number`` and
answers the attesting ``vc+jwt`` (``application/vc+jwt``). ``type`` is ``vat-id``,
``lei-code``, ``eori``, ``tax-id``, ``euid`` or ``local``; ``vcId`` (optional) becomes the
credential's ``id``, ``subjectId`` its ``credentialSubject.id``; ``countryCode`` (a Hansa
addition, optional) is the participant's declared country, checked against the number.

The router finds the :class:`~hansa.compliance.notary.Notary` at
``request.app.state.node.notary`` and signs as the node (its DID and newest wallet key).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from hansa.compliance.notary import Notary
from hansa.errors import ConfigurationError
from hansa.identity.vc_jose import VC_MEDIA_TYPE

__all__ = ["router"]

router = APIRouter(tags=["notary"])


def _notary(request: Request) -> Notary:
    notary = getattr(request.app.state.node, "notary", None)
    if not isinstance(notary, Notary):
        raise ConfigurationError(
            "this node does not run the notary role", code="notary.not_configured"
        )
    return notary


@router.get(
    "/v2/registration-numbers/{kind}/{number:path}",
    response_class=Response,
    responses={
        200: {
            "content": {VC_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "The registration-number credential as a vc+jwt",
        }
    },
    summary="Check a registration number and attest it in a credential",
)
def registration_number_credential(
    request: Request,
    kind: str,
    number: str,
    subject_id: Annotated[
        str, Query(alias="subjectId", description="credentialSubject.id: the participant")
    ],
    vc_id: Annotated[
        str | None, Query(alias="vcId", description="id of the credential to issue")
    ] = None,
    country_code: Annotated[
        str | None,
        Query(alias="countryCode", description="the participant's declared country (ISO)"),
    ] = None,
) -> Response:
    """Check ``number`` (offline, then with the federation's registry) and issue the VC."""
    notary = _notary(request)
    node = request.app.state.node
    check = notary.check(kind, number, country=country_code)
    key, private_key = node.identity.wallet.signing_key()
    did = node.identity.did
    token = notary.issue_registration_credential(
        check,
        subject_id,
        issuer_did=did,
        private_key=private_key,
        kid=f"{did}#{key.id}",
        credential_id=vc_id,
    )
    return Response(token, media_type=VC_MEDIA_TYPE)
