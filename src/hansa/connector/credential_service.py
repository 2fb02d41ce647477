"""DCP credential service (holder side) and its client (verifier side).

Holder: :class:`SecureTokenService` signs the node's self-issued ID tokens, with an access token
bound to the verifier when scopes are given; :class:`CredentialService` keeps the node's
credentials and answers ``POST /presentations/query``: it authenticates the VERIFIER's own ID
token, checks the holder's access token inside it (signed by this node, granted to that
verifier), validates the ``PresentationQueryMessage`` against the DCP schema, selects the held
credentials that both the query and the access token name, and answers with one ``vp+jwt``
signed by this node for the verifier (``aud`` = the verifier's DID).

Verifier: :func:`credential_service_url` finds the holder's ``CredentialService`` entry in its
DID document, :func:`query_presentations` posts a query through the guarded client, and
:class:`CredentialServiceClient` runs the whole verifier flow for an ID token it received,
verifying every presentation and credential with the identity verifier (signatures, audience,
validity, status lists, trusted issuers) and checking that the holder presented what was asked.

What can be selected is described in :mod:`hansa.connector.presentation_query`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hansa.connector.credential_store import CredentialStore, StoredCredential
from hansa.connector.dcp import (
    AccessGrant,
    IdTokenClaims,
    ReplayStore,
    bearer_token,
    issue_access_token,
    issue_id_token,
    verify_access_token,
    verify_id_token,
)
from hansa.connector.dcp_schemas import (
    DCP_CONTEXT,
    validate_query_message,
    validate_response_message,
)
from hansa.connector.presentation_query import (
    evaluate_definition,
    matches_scope,
    parse_scope,
    select_by_scopes,
)
from hansa.db import utcnow
from hansa.errors import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    HansaError,
    Unauthorized,
    UpstreamError,
    ValidationFailed,
)
from hansa.fetch import GuardedClient, HttpStatusError
from hansa.identity.did import DidDocument, DidResolver
from hansa.identity.keys import PrivateKey
from hansa.identity.vc_jose import issue_vp_jwt, verify_vc_jwt
from hansa.identity.verifier import CredentialCheck, CredentialVerifier
from hansa.identity.wallet import Wallet

#: ``(kid, private key)`` of the node's current signing key.
Signer = Callable[[], tuple[str, PrivateKey]]
Clock = Callable[[], datetime]

CREDENTIAL_SERVICE_TYPE = "CredentialService"
QUERY_PATH = "/presentations/query"


def wallet_signer(did: str, wallet: Wallet) -> Signer:
    """A :data:`Signer` over the node's wallet: its newest active key."""

    def signer() -> tuple[str, PrivateKey]:
        key, private = wallet.signing_key()
        return f"{did}#{key.id}", private

    return signer


def credential_service_entry(did: str, base_url: str) -> dict[str, str]:
    """The DID document ``service`` entry that names this node's credential service."""
    return {
        "id": f"{did}#credential-service",
        "type": CREDENTIAL_SERVICE_TYPE,
        "serviceEndpoint": base_url.rstrip("/") + "/dcp",
    }


# --- holder -----------------------------------------------------------------------------------


class SecureTokenService:
    """The holder's token service: self-issued ID tokens, with access tokens when scoped."""

    def __init__(self, did: str, signer: Signer, *, clock: Clock = utcnow) -> None:
        self.did = did
        self._signer = signer
        self._clock = clock

    def id_token(
        self,
        audience: str,
        *,
        scopes: Sequence[str] = (),
        access_token: str | None = None,
    ) -> str:
        """An ID token for ``audience``.

        With ``scopes``, it carries a new access token letting ``audience`` read them from this
        node's credential service (what a participant agent sends with a DSP request). With
        ``access_token``, it forwards someone else's (what a verifier sends to a credential
        service).
        """
        if scopes and access_token is not None:
            raise ConfigurationError(
                "give scopes (to grant access) or an access token (to forward one), not both",
                code="dcp.token_request_invalid",
            )
        kid, key = self._signer()
        now = self._clock()
        if scopes:
            access_token = issue_access_token(
                holder_did=self.did,
                private_key=key,
                kid=kid,
                verifier_did=audience,
                scopes=scopes,
                now=now,
            )
        return issue_id_token(
            issuer_did=self.did,
            private_key=key,
            kid=kid,
            audience=audience,
            access_token=access_token,
            now=now,
        )


@dataclass(frozen=True)
class QueryAccess:
    """An authenticated query: who asks (the ID token) and what the holder granted them."""

    claims: IdTokenClaims
    grant: AccessGrant


class CredentialService:
    """The node's DCP credential service: its held credentials, released by consent."""

    def __init__(
        self,
        *,
        did: str,
        store: CredentialStore,
        signer: Signer,
        resolver: DidResolver,
        replay: ReplayStore,
        clock: Clock = utcnow,
    ) -> None:
        self.did = did
        self.store = store
        self._signer = signer
        self._resolver = resolver
        self._replay = replay
        self._clock = clock

    # --- the node's own credentials ---

    def hold(self, token: str) -> StoredCredential:
        """Verify a ``vc+jwt`` issued to this node and keep it for presentation."""
        verified = verify_vc_jwt(token, self._resolver, now=self._clock())
        subject = verified.credential.get("credentialSubject")
        subjects = subject if isinstance(subject, list) else [subject]
        if not any(isinstance(s, dict) and s.get("id") == self.did for s in subjects):
            raise ValidationFailed(
                f"the credential is not about this node: no credentialSubject has the id "
                f"{self.did}; a node holds only its own credentials",
                code="dcp.credential_not_for_holder",
                pointer="/credentialSubject",
            )
        return self.store.put(token, verified.credential, verified.issuer)

    # --- POST /presentations/query ---

    def authenticate(self, authorization: str | None) -> QueryAccess:
        """Verify the verifier's ID token and the access token it forwards (401/403)."""
        now = self._clock()
        claims = verify_id_token(
            bearer_token(authorization),
            self._resolver,
            audience=self.did,
            replay=self._replay,
            now=now,
        )
        grant = verify_access_token(
            claims.access_token,
            self._resolver,
            holder_did=self.did,
            bearer_did=claims.issuer,
            now=now,
        )
        return QueryAccess(claims=claims, grant=grant)

    def answer(self, access: QueryAccess, message: Any) -> dict[str, Any]:
        """The ``PresentationResponseMessage`` for a ``PresentationQueryMessage``."""
        validate_query_message(message)
        if "scope" in message and "presentationDefinition" in message:
            raise BadRequest(
                "a PresentationQueryMessage has either scope or presentationDefinition, not both",
                code="dcp.query_ambiguous",
            )
        now = self._clock()
        held = self.store.presentable(now)
        credentials = [c.credential for c in held]
        # The access token is the holder's consent: nothing outside its scopes is released,
        # whatever the query asks (DCP: fewer presentations, not an error).
        allowed = set(select_by_scopes(credentials, access.grant.scopes))
        response: dict[str, Any] = {
            "@context": [DCP_CONTEXT],
            "type": "PresentationResponseMessage",
            "presentation": [],
        }
        if "scope" in message:
            chosen = [i for i in select_by_scopes(credentials, message["scope"]) if i in allowed]
        else:
            definition = message["presentationDefinition"]
            matches = [
                (d, i) for d, i in evaluate_definition(definition, credentials) if i in allowed
            ]
            chosen = list(dict.fromkeys(i for _, i in matches))
            response["presentationSubmission"] = _submission(definition, matches, chosen)
        if chosen:
            kid, key = self._signer()
            response["presentation"] = [
                issue_vp_jwt(
                    [held[i].token for i in chosen],
                    self.did,
                    key,
                    kid,
                    audience=access.claims.issuer,
                    now=now,
                )
            ]
        return response


def _submission(
    definition: Mapping[str, Any], matches: list[tuple[str, int]], chosen: list[int]
) -> dict[str, Any]:
    position = {index: n for n, index in enumerate(chosen)}
    return {
        "id": f"urn:uuid:{uuid.uuid4()}",
        "definition_id": str(definition.get("id", "")),
        "descriptor_map": [
            {
                "id": descriptor,
                "format": "jwt_vp",
                "path": "$.presentation[0]",
                "path_nested": {
                    "id": descriptor,
                    "format": "jwt_vc",
                    "path": f"$.verifiableCredential[{position[index]}]",
                },
            }
            for descriptor, index in matches
        ],
    }


# --- verifier ---------------------------------------------------------------------------------


def credential_service_url(document: DidDocument) -> str:
    """The base URL of the holder's credential service, from its DID document (DCP 1.0)."""
    for service in document.get("service", []) or []:
        if not isinstance(service, dict):
            continue
        types = service.get("type")
        types = types if isinstance(types, list) else [types]
        endpoint = service.get("serviceEndpoint")
        if CREDENTIAL_SERVICE_TYPE in types and isinstance(endpoint, str) and endpoint:
            return endpoint
    raise Unauthorized(
        f"the DID document of {document.get('id')} names no credential service (a service of "
        f"type {CREDENTIAL_SERVICE_TYPE}), so its claims cannot be obtained",
        code="dcp.credential_service_missing",
    )


def query_message(
    *,
    scopes: Sequence[str] | None = None,
    presentation_definition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``PresentationQueryMessage`` asking for ``scopes`` or a presentation definition."""
    if (scopes is None) == (presentation_definition is None):
        raise ConfigurationError(
            "ask with scopes or with a presentation definition (exactly one)",
            code="dcp.query_ambiguous",
        )
    message: dict[str, Any] = {"@context": [DCP_CONTEXT], "type": "PresentationQueryMessage"}
    if scopes is not None:
        message["scope"] = list(scopes)
    else:
        message["presentationDefinition"] = dict(presentation_definition or {})
    return message


def query_presentations(
    client: GuardedClient,
    credential_service_url: str,
    *,
    id_token: str,
    scopes: Sequence[str] | None = None,
    presentation_definition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """POST a query to a credential service; the schema-valid PresentationResponseMessage.

    ``id_token`` is the verifier's own ID token carrying the holder's access token.
    """
    message = query_message(scopes=scopes, presentation_definition=presentation_definition)
    url = credential_service_url.rstrip("/") + QUERY_PATH
    try:
        response = client.post_json(url, message, headers={"Authorization": f"Bearer {id_token}"})
    except HttpStatusError as exc:
        problem: Any = None
        try:
            problem = exc.response.json()
        except HansaError:
            problem = None
        code = problem.get("code") if isinstance(problem, dict) else None
        raise UpstreamError(
            f"the credential service at {url} refused the query (HTTP {exc.upstream_status}"
            + (f", {code}" if code else "")
            + ")",
            code="dcp.query_refused",
            upstream_status=exc.upstream_status,
            upstream_code=code,
        ) from exc
    body = response.json()
    validate_response_message(body)
    if not isinstance(body, dict):  # the schema requires an object; this informs mypy
        raise UpstreamError("the response is not an object", code="dcp.response_invalid")
    return body


@dataclass(frozen=True)
class PresentedClaims:
    """What a holder proved: its verified credentials, and the scopes it did not satisfy."""

    holder: str
    credentials: list[CredentialCheck]
    missing_scopes: list[str]


def verify_presentation_response(
    response: Mapping[str, Any],
    verifier: CredentialVerifier,
    *,
    holder: str,
    audience: str,
    scopes: Sequence[str],
    trusted_issuer: bool = True,
    now: datetime | None = None,
) -> PresentedClaims:
    """Verify every presentation of a response from ``holder`` to ``audience`` (DCP 1.0).

    Each presentation must verify (holder's authentication key, ``aud``, every credential's
    signature, validity, status and, with ``trusted_issuer``, issuer), be ``holder``'s, and
    hold only credentials that ``scopes`` asked for. Codes: ``dcp.presentation_invalid``
    (401, with the identity verifier's code as ``cause``), ``dcp.presentation_holder_mismatch``
    and ``dcp.presentation_scope_mismatch`` (403).
    """
    now = now or datetime.now(UTC)
    parsed = [s for s in (parse_scope(text) for text in scopes) if s is not None]
    credentials: list[CredentialCheck] = []
    for index, presentation in enumerate(response.get("presentation", [])):
        pointer = f"/presentation/{index}"
        try:
            check = verifier.verify_presentation(
                presentation, domain=audience, trusted_issuer=trusted_issuer, now=now
            )
        except HansaError as exc:
            if exc.status_code >= 500:
                raise
            raise Unauthorized(
                f"presentation {index} does not verify: {exc.detail}",
                code="dcp.presentation_invalid",
                pointer=pointer + (exc.pointer or ""),
                cause=exc.code,
            ) from exc
        if check.holder != holder:
            raise Forbidden(
                f"presentation {index} is held by {check.holder}, not by {holder} whose claims "
                "were asked for",
                code="dcp.presentation_holder_mismatch",
                pointer=pointer,
            )
        for number, credential in enumerate(check.credentials):
            if not any(matches_scope(credential.credential, scope) for scope in parsed):
                raise Forbidden(
                    f"presentation {index} holds a credential that was not asked for "
                    f"({credential.credential.get('type')})",
                    code="dcp.presentation_scope_mismatch",
                    pointer=f"{pointer}/verifiableCredential/{number}",
                )
        credentials.extend(check.credentials)
    missing = [
        text
        for text, scope in ((text, parse_scope(text)) for text in scopes)
        if scope is None or not any(matches_scope(c.credential, scope) for c in credentials)
    ]
    return PresentedClaims(holder=holder, credentials=credentials, missing_scopes=missing)


class CredentialServiceClient:
    """The verifier's side: obtain and verify the claims of the sender of an ID token."""

    def __init__(
        self,
        *,
        did: str,
        http: GuardedClient,
        resolver: DidResolver,
        sts: SecureTokenService,
        verifier: CredentialVerifier,
        trusted_issuer: bool = True,
    ) -> None:
        self.did = did
        self._http = http
        self._resolver = resolver
        self._sts = sts
        self._verifier = verifier
        self._trusted_issuer = trusted_issuer

    def fetch_claims(self, claims: IdTokenClaims, scopes: Sequence[str]) -> PresentedClaims:
        """Query the credential service of ``claims.issuer`` for ``scopes`` and verify the answer.

        ``claims`` is the verified ID token the holder sent with its request; its access token
        is forwarded in this node's own ID token, as DCP prescribes.
        """
        if claims.access_token is None:
            raise Unauthorized(
                "the ID token carries no access token ('token' claim), so the sender's "
                "credentials cannot be requested; send one granted to this node",
                code="dcp.access_token_missing",
                pointer="/token",
            )
        url = credential_service_url(self._resolver.resolve(claims.issuer))
        own_token = self._sts.id_token(claims.issuer, access_token=claims.access_token)
        response = query_presentations(self._http, url, id_token=own_token, scopes=scopes)
        return verify_presentation_response(
            response,
            self._verifier,
            holder=claims.issuer,
            audience=self.did,
            scopes=scopes,
            trusted_issuer=self._trusted_issuer,
        )


__all__ = [
    "CREDENTIAL_SERVICE_TYPE",
    "QUERY_PATH",
    "CredentialService",
    "CredentialServiceClient",
    "PresentedClaims",
    "QueryAccess",
    "SecureTokenService",
    "Signer",
    "credential_service_entry",
    "credential_service_url",
    "query_message",
    "query_presentations",
    "verify_presentation_response",
    "wallet_signer",
]
