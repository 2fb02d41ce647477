"""DCP 1.0 self-issued ID tokens and the access tokens they carry (Decentralized Claims Protocol).

A participant authenticates to another with a JWT it signs itself (DCP base protocol, section
"Self-Issued ID Tokens"): ``iss`` = ``sub`` = its DID, ``aud`` = the verifier's DID, ``jti``,
``iat`` and ``exp``, and optionally a ``token`` claim: an access token the verifier forwards to
the participant's credential service to fetch its presentations.

Who signs what, in one DSP request from a consumer C to a provider P:

1. C's token service signs an ID token (iss = sub = C, aud = P) whose ``token`` is an access
   token C signed for P (:func:`issue_access_token`: iss = aud = C, sub = P, ``scope``).
2. P verifies it (:func:`verify_id_token`), resolves C's credential service from C's DID
   document and queries it with an ID token of its OWN (iss = sub = P, aud = C) that carries
   C's access token unchanged in ``token``.
3. C's credential service verifies P's ID token, then the access token
   (:func:`verify_access_token`): signed by C itself, granted to P (``sub`` = the ID token's
   issuer, so a token stolen in transit is useless to anyone but P), and answers with the
   credentials the scopes allow.

Verification follows the DCP steps: iss = sub, ``aud`` is this node, the key comes from the
``sub`` DID document and must be listed under ``capabilityInvocation`` (the spec's rule; a
token without ``kid`` is accepted only when the document has exactly one method), the document
``id`` is ``sub``, ``nbf`` / ``exp`` with leeway, ``jti`` not seen before. Hansa also caps
``exp`` at :data:`MAX_LIFETIME` from now, which bounds how long a ``jti`` must be remembered.

Every failure is a 401 problem with its own code; a valid token for the wrong party is a 403
(``dcp.access_token_not_bound``) only for access tokens, where authentication succeeded.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hansa.errors import ConfigurationError, Forbidden, HansaError, Unauthorized
from hansa.identity.did import (
    DidDocument,
    DidResolver,
    Relationship,
    did_method,
    find_verification_method,
    public_key_of,
    split_did_url,
)
from hansa.identity.jose import (
    ResolveKey,
    check_registered_claims,
    decode_unverified,
    sign_compact,
    verify_compact,
)
from hansa.identity.keys import PrivateKey, PublicKey

ID_TOKEN_TYP = "JWT"  # noqa: S105 (a media type, not a secret)
#: RFC 9068's type: an access token can never pass as an ID token, nor the other way round.
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 (a media type)
ALGORITHMS: frozenset[str] = frozenset({"EdDSA", "Ed25519", "ES256"})
#: DCP 1.0 base protocol, "Validating Self-Issued ID Tokens", step 3.
ID_TOKEN_RELATIONSHIP: Relationship = "capabilityInvocation"  # noqa: S105
DEFAULT_LIFETIME = timedelta(minutes=5)
#: A token valid for longer than this is refused: its ``jti`` would have to be kept as long.
MAX_LIFETIME = timedelta(minutes=10)
DEFAULT_ACCESS_TOKEN_LIFETIME = timedelta(minutes=10)
LEEWAY = timedelta(seconds=30)


class ReplayStore(Protocol):
    """What :func:`verify_id_token` needs of a replay guard (see :mod:`hansa.connector.replay`)."""

    def check_and_remember(self, jti: str, issuer: str, expires_at: datetime) -> None:
        """Raise ``dcp.token_replayed`` when ``jti`` was seen before; remember it otherwise."""
        ...


@dataclass(frozen=True)
class IdTokenClaims:
    """A verified self-issued ID token."""

    issuer: str
    subject: str
    jti: str
    expires_at: datetime
    access_token: str | None
    kid: str

    @property
    def did(self) -> str:
        """The caller: a self-issued token's issuer is its subject."""
        return self.issuer


@dataclass(frozen=True)
class AccessGrant:
    """A verified access token: which scopes ``verifier`` may read from ``holder``."""

    holder: str
    verifier: str
    scopes: tuple[str, ...]
    jti: str
    expires_at: datetime


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _check_kid_of(kid: str, did: str) -> None:
    if split_did_url(kid)[0] != did:
        raise ConfigurationError(
            f"key {kid} is not a key of {did}; sign with a key from {did}'s DID document",
            code="dcp.signing_key_mismatch",
        )


def issue_id_token(
    *,
    issuer_did: str,
    private_key: PrivateKey,
    kid: str,
    audience: str,
    access_token: str | None = None,
    lifetime: timedelta = DEFAULT_LIFETIME,
    now: datetime | None = None,
) -> str:
    """A self-issued ID token of ``issuer_did`` for ``audience`` (typ ``JWT``, fresh ``jti``).

    ``kid`` is the DID URL of a key listed under ``capabilityInvocation`` in the issuer's
    DID document; ``access_token`` goes into the ``token`` claim.
    """
    _check_kid_of(kid, issuer_did)
    if lifetime > MAX_LIFETIME:
        raise ConfigurationError(
            f"an ID token may live at most {MAX_LIFETIME}; verifiers refuse longer ones",
            code="dcp.lifetime_too_long",
        )
    now = now or datetime.now(UTC)
    payload: dict[str, Any] = {
        "iss": issuer_did,
        "sub": issuer_did,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": _epoch(now),
        "exp": _epoch(now + lifetime),
    }
    if access_token is not None:
        payload["token"] = access_token
    return sign_compact(payload, private_key, kid=kid, typ=ID_TOKEN_TYP)


def issue_access_token(
    *,
    holder_did: str,
    private_key: PrivateKey,
    kid: str,
    verifier_did: str,
    scopes: Collection[str],
    lifetime: timedelta = DEFAULT_ACCESS_TOKEN_LIFETIME,
    now: datetime | None = None,
) -> str:
    """An access token (``at+jwt``) letting ``verifier_did`` read ``scopes`` from the holder."""
    _check_kid_of(kid, holder_did)
    now = now or datetime.now(UTC)
    payload = {
        "iss": holder_did,
        "aud": holder_did,
        "sub": verifier_did,
        "scope": " ".join(scopes),
        "jti": str(uuid.uuid4()),
        "iat": _epoch(now),
        "exp": _epoch(now + lifetime),
    }
    return sign_compact(payload, private_key, kid=kid, typ=ACCESS_TOKEN_TYP)


# --- verification --------------------------------------------------------------------------


def _invalid(detail: str, pointer: str | None = None, **extra: Any) -> Unauthorized:
    return Unauthorized(detail, code="dcp.token_invalid", pointer=pointer, **extra)


def _string_claim(payload: Mapping[str, Any], claim: str) -> str:
    value = payload.get(claim)
    if not isinstance(value, str) or not value:
        raise _invalid(
            f"the ID token needs a '{claim}' claim (a non-empty string)", pointer=f"/{claim}"
        )
    return value


def _resolve(resolver: DidResolver, did: str) -> DidDocument:
    try:
        document = resolver.resolve(did)
    except HansaError as exc:
        raise Unauthorized(
            f"the issuer's DID {did} could not be resolved: {exc.detail}",
            code="dcp.issuer_unresolvable",
            pointer="/iss",
            cause=exc.code,
        ) from exc
    if document.get("id") != did:
        raise _invalid(
            f"the DID document resolved for {did} has id {document.get('id')!r}; DCP requires "
            "the token's sub to equal the document's id",
            pointer="/sub",
        )
    return document


def _kid_or_only_method(header: dict[str, Any], document: DidDocument, did: str) -> str:
    """DCP step 3: without ``kid``, the document's only verification method, if it has one."""
    kid = header.get("kid")
    if kid is not None:
        if not isinstance(kid, str) or split_did_url(kid)[0] != did:
            raise Unauthorized(
                f"the token is signed with key {kid!r}, which is not a key of its issuer {did}",
                code="dcp.key_not_authorized",
                pointer="kid",
            )
        return kid
    methods = document.get("verificationMethod") or []
    if not isinstance(methods, list) or len(methods) != 1 or not isinstance(methods[0], dict):
        raise _invalid(
            f"the token names no key (kid) and the DID document of {did} has "
            f"{len(methods) if isinstance(methods, list) else 0} verification methods; "
            "add the kid header",
            pointer="kid",
        )
    method_id = str(methods[0].get("id", ""))
    return did + method_id if method_id.startswith("#") else method_id


def _key_from(document: DidDocument, relationship: Relationship) -> ResolveKey:
    def resolve_key(kid: str) -> PublicKey:
        try:
            method = find_verification_method(document, kid, relationship)
        except HansaError as exc:
            raise Unauthorized(
                f"{exc.detail}; a DCP token must be signed with a {relationship} key",
                code="dcp.key_not_authorized",
                pointer="kid",
            ) from exc
        return public_key_of(method)

    return resolve_key


def _verify_signature(
    token: str,
    header: dict[str, Any],
    payload: dict[str, Any],
    document: DidDocument,
    kid: str,
    typ: str,
    code: str,
) -> None:
    try:
        # ``decoded`` lets DCP's kid-less case through: verify_compact takes the key id from
        # the header given, and always checks the signature over the token's own bytes.
        verify_compact(
            token,
            _key_from(document, ID_TOKEN_RELATIONSHIP),
            allowed_algs=ALGORITHMS,
            allowed_typs=(typ,),
            decoded=({**header, "kid": kid}, payload),
        )
    except Unauthorized:
        raise
    except HansaError as exc:
        # A forged or altered token is a failed authentication (401), not a bad request.
        raise Unauthorized(exc.detail, code=code, pointer=exc.pointer, cause=exc.code) from exc


def _check_times(
    payload: Mapping[str, Any], now: datetime, code: str, expired_code: str
) -> datetime:
    try:
        check_registered_claims(
            payload, now=now, leeway=int(LEEWAY.total_seconds()), required=("exp", "iat")
        )
    except HansaError as exc:
        raise Unauthorized(
            exc.detail,
            code=expired_code if exc.code == "jose.expired" else code,
            pointer=exc.pointer,
            cause=exc.code,
        ) from exc
    expires_at = datetime.fromtimestamp(float(payload["exp"]), UTC)
    if expires_at - now > MAX_LIFETIME + LEEWAY:
        raise Unauthorized(
            f"the token is valid until {expires_at.isoformat()}, more than {MAX_LIFETIME} "
            "from now; issue short-lived tokens",
            code=code,
            pointer="/exp",
        )
    return expires_at


def verify_id_token(
    token: str | None,
    resolver: DidResolver,
    *,
    audience: str,
    replay: ReplayStore,
    now: datetime | None = None,
) -> IdTokenClaims:
    """Verify a self-issued ID token addressed to ``audience`` (this node's DID); see module doc.

    The ``jti`` is recorded only once everything else passed, so a forged token cannot use
    up a genuine token's ``jti``.
    """
    if not token:
        raise Unauthorized(
            "send a DCP self-issued ID token as 'Authorization: Bearer <token>'",
            code="dcp.token_missing",
            pointer="Authorization",
        )
    now = now or datetime.now(UTC)
    try:
        header, payload = decode_unverified(token)
    except HansaError as exc:
        raise _invalid(f"the ID token is not a compact JWS: {exc.detail}", cause=exc.code) from exc
    issuer, subject = _string_claim(payload, "iss"), _string_claim(payload, "sub")
    if issuer != subject:
        raise Unauthorized(
            f"a self-issued ID token has iss = sub (the sender's DID); here iss is {issuer!r} "
            f"and sub is {subject!r}",
            code="dcp.issuer_subject_mismatch",
            pointer="/sub",
        )
    try:
        did_method(issuer)
    except HansaError as exc:
        raise _invalid(f"iss must be the sender's DID: {exc.detail}", pointer="/iss") from exc
    aud = payload.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise Unauthorized(
            f"the token is addressed to {aud!r}, not to this node ({audience}); ask for a "
            "token with this node's DID as audience",
            code="dcp.audience_mismatch",
            pointer="/aud",
        )
    jti = _string_claim(payload, "jti")
    access_token = payload.get("token")
    if access_token is not None and not isinstance(access_token, str):
        raise _invalid("the 'token' claim must be a string", pointer="/token")
    # Times are checked before anything is fetched for the token.
    expires_at = _check_times(payload, now, "dcp.token_invalid", "dcp.token_expired")
    document = _resolve(resolver, subject)
    kid = _kid_or_only_method(header, document, subject)
    _verify_signature(token, header, payload, document, kid, ID_TOKEN_TYP, "dcp.token_invalid")
    # Remembered past exp by the leeway, during which the token would still be accepted.
    replay.check_and_remember(jti, issuer, expires_at + LEEWAY)
    return IdTokenClaims(
        issuer=issuer,
        subject=subject,
        jti=jti,
        expires_at=expires_at,
        access_token=access_token,
        kid=kid,
    )


def verify_access_token(
    token: str | None,
    resolver: DidResolver,
    *,
    holder_did: str,
    bearer_did: str,
    now: datetime | None = None,
) -> AccessGrant:
    """Verify an access token this holder issued, presented by ``bearer_did``.

    Codes: ``dcp.access_token_missing``, ``dcp.access_token_invalid``,
    ``dcp.access_token_expired`` (401);
    ``dcp.access_token_not_bound`` (403) when it was granted to another party.
    """
    code = "dcp.access_token_invalid"
    if not token:
        raise Unauthorized(
            "the ID token carries no access token ('token' claim); the credential service "
            "releases credentials only with the holder's consent, which the access token is",
            code="dcp.access_token_missing",
            pointer="/token",
        )
    now = now or datetime.now(UTC)
    try:
        header, payload = decode_unverified(token)
    except HansaError as exc:
        raise Unauthorized(
            f"the access token is not a compact JWS: {exc.detail}", code=code, pointer="/token"
        ) from exc
    if payload.get("iss") != holder_did or payload.get("aud") != holder_did:
        raise Unauthorized(
            f"the access token was not issued by and for {holder_did}; ask the holder for one",
            code=code,
            pointer="/token",
        )
    expires_at = _check_times(payload, now, code, "dcp.access_token_expired")
    document = _resolve(resolver, holder_did)
    kid = header.get("kid")
    if not isinstance(kid, str) or split_did_url(kid)[0] != holder_did:
        raise Unauthorized(
            "the access token is not signed with a key of the holder", code=code, pointer="kid"
        )
    try:
        _verify_signature(token, header, payload, document, kid, ACCESS_TOKEN_TYP, code)
    except Unauthorized as exc:
        raise Unauthorized(exc.detail, code=code, pointer=exc.pointer, cause=exc.code) from exc
    if payload.get("sub") != bearer_did:
        raise Forbidden(
            f"the access token was granted to {payload.get('sub')!r}, not to {bearer_did}",
            code="dcp.access_token_not_bound",
            pointer="/token",
        )
    scope = payload.get("scope", "")
    if not isinstance(scope, str):
        raise Unauthorized("the access token's scope must be a string", code=code)
    return AccessGrant(
        holder=holder_did,
        verifier=bearer_did,
        scopes=tuple(s for s in scope.split(" ") if s),
        jti=str(payload.get("jti", "")),
        expires_at=expires_at,
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when there is none)."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "the Authorization header must be 'Bearer <self-issued ID token>'",
            code="dcp.token_missing",
            pointer="Authorization",
        )
    return token.strip()


class DcpAuthenticator:
    """Authenticates DSP requests by their DCP self-issued ID token (``node.dsp_auth``)."""

    def __init__(self, resolver: DidResolver, *, audience: str, replay: ReplayStore) -> None:
        self._resolver = resolver
        self._audience = audience
        self._replay = replay

    def authenticate(self, authorization: str | None) -> IdTokenClaims:
        return verify_id_token(
            bearer_token(authorization),
            self._resolver,
            audience=self._audience,
            replay=self._replay,
        )


__all__ = [
    "ACCESS_TOKEN_TYP",
    "ALGORITHMS",
    "DEFAULT_ACCESS_TOKEN_LIFETIME",
    "DEFAULT_LIFETIME",
    "ID_TOKEN_RELATIONSHIP",
    "ID_TOKEN_TYP",
    "LEEWAY",
    "MAX_LIFETIME",
    "AccessGrant",
    "DcpAuthenticator",
    "IdTokenClaims",
    "ReplayStore",
    "bearer_token",
    "issue_access_token",
    "issue_id_token",
    "verify_access_token",
    "verify_id_token",
]
