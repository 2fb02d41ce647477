"""Credentials as ``vc+jwt`` and presentations as ``vp+jwt`` (W3C VC-JOSE-COSE, as Gaia-X uses it).

The JWT payload IS the credential (a VC Data Model 2.0 object); Hansa adds the JWT claims
that Gaia-X Loire/25.x verifiers read: ``iss`` (the issuer's DID, also replicated in the
header as RFC 7519 section 5.3 allows), ``iat``, and ``nbf``/``exp`` mirroring
``validFrom``/``validUntil``. A presentation carries each credential as an
``EnvelopedVerifiableCredential`` whose ``id`` is a ``data:application/vc+jwt,<token>`` URL.

On input, Gaia-X's media-type variants are accepted too: ``typ`` ``vc+ld+json+jwt`` /
``vc+ld+jwt`` / ``vc-ld+jwt`` (and the ``vp`` forms), and data URLs of those media types
(``application/vc+ld+json+jwt``, as Gaia-X ICAM 24.07 writes them).

Verification here covers the signature, the key's DID relationship (``assertionMethod`` for
credentials, ``authentication`` for presentations), issuer/holder binding, the validity
period, the data-model shape, and a presentation's audience and nonce. Status lists and
trusted issuers are the orchestrating verifier's job: ``credentialStatus`` is left in
:attr:`VerifiedCredential.credential` for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hansa.errors import BadRequest, Forbidden, HansaError, Unauthorized
from hansa.identity.did import DidResolver, Relationship, resolve_verification_key, split_did_url
from hansa.identity.jose import (
    ResolveKey,
    check_header,
    check_registered_claims,
    decode_unverified,
    sign_compact,
    verify_compact,
)
from hansa.identity.keys import PrivateKey, PublicKey
from hansa.identity.validity import check_validity_period, parse_datetime

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
VC_TYP = "vc+jwt"
VP_TYP = "vp+jwt"
# Accepted on input: the Recommendation's names, Gaia-X ICAM 24.x's (``+ld+json+jwt``,
# ``+ld+jwt``) and the 2024 drafts' (``-ld+jwt``) that some implementations still emit.
VC_TYPS: tuple[str, ...] = (VC_TYP, "vc+ld+json+jwt", "vc+ld+jwt", "vc-ld+jwt")
VP_TYPS: tuple[str, ...] = (VP_TYP, "vp+ld+json+jwt", "vp+ld+jwt", "vp-ld+jwt")
VC_MEDIA_TYPE = "application/vc+jwt"
VC_MEDIA_TYPES: tuple[str, ...] = tuple(f"application/{typ}" for typ in VC_TYPS)
ALGORITHMS: frozenset[str] = frozenset({"EdDSA", "Ed25519", "ES256"})
#: How long an issued presentation is accepted: long enough to send, short against replay.
PRESENTATION_LIFETIME = timedelta(minutes=15)

# A credential's JWT time claims fail with the credential's own error codes.
_VC_TIME_CODES = {
    "jose.expired": "vc.expired",
    "jose.not_yet_valid": "vc.not_yet_valid",
    "jose.issued_in_future": "vc.not_yet_valid",
}
_VP_TIME_CODES = {
    "jose.expired": "vp.expired",
    "jose.not_yet_valid": "vp.not_yet_valid",
    "jose.issued_in_future": "vp.not_yet_valid",
    "jose.audience_mismatch": "vp.audience_mismatch",
}


@dataclass(frozen=True)
class VerifiedCredential:
    """A ``vc+jwt`` whose signature, issuer, validity period and shape have been checked."""

    credential: dict[str, Any]
    issuer: str
    kid: str
    header: dict[str, Any]
    token: str


#: Verifies one ``vc+jwt`` at a time: ``verify_credential(token, now)``.
VerifyCredential = Callable[[str, datetime], VerifiedCredential]


@dataclass(frozen=True)
class VerifiedPresentation:
    """A ``vp+jwt`` whose holder signature, audience, nonce and credentials have been checked."""

    holder: str
    presentation: dict[str, Any]
    credentials: list[VerifiedCredential]
    kid: str
    header: dict[str, Any]
    token: str


# --- shape -----------------------------------------------------------------------------


def _types(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_context(document: Mapping[str, Any], code: str) -> None:
    context = document.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    if first != CREDENTIALS_V2:
        raise BadRequest(
            f"@context must start with {CREDENTIALS_V2} (VC Data Model 2.0)",
            code=code,
            pointer="/@context",
        )


def _party_id(value: Any) -> str | None:
    """The id of an ``issuer``/``holder``: a URL string, or an object with an ``id``."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return str(value["id"])
    return None


def check_credential_shape(credential: Mapping[str, Any]) -> str:
    """Check the VC Data Model 2.0 fields a credential needs; return its issuer id."""
    code = "vc.invalid_credential"
    _check_context(credential, code)
    if "VerifiableCredential" not in _types(credential.get("type")):
        raise BadRequest("type must include VerifiableCredential", code=code, pointer="/type")
    issuer = _party_id(credential.get("issuer"))
    if issuer is None:
        raise BadRequest(
            "issuer must be a URL (the issuer's DID) or an object with an id",
            code=code,
            pointer="/issuer",
        )
    subject = credential.get("credentialSubject")
    subjects = _types(subject)
    if subject is None or not subjects or not all(isinstance(s, dict) for s in subjects):
        raise BadRequest(
            "credentialSubject must be an object or a non-empty list of objects",
            code=code,
            pointer="/credentialSubject",
        )
    return issuer


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


# --- credentials -----------------------------------------------------------------------


def _check_signer(kid: str, party: str, code: str, role: str) -> None:
    did = split_did_url(kid)[0]
    if did != party:
        raise Forbidden(
            f"the token is signed with a key of {did} ({kid}), but the {role} is {party}; "
            f"sign with a key from the {role}'s DID document",
            code=code,
            pointer="kid",
        )


def issue_vc_jwt(
    credential: Mapping[str, Any],
    private_key: PrivateKey,
    kid: str,
    *,
    now: datetime | None = None,
) -> str:
    """Secure ``credential`` as a ``vc+jwt`` signed by the issuer's key ``kid``."""
    issuer = check_credential_shape(credential)
    _check_signer(kid, issuer, "vc.issuer_mismatch", "issuer")
    now = now or datetime.now(UTC)
    payload: dict[str, Any] = {**credential, "iss": issuer, "iat": _epoch(now)}
    if "validFrom" in credential:
        payload["nbf"] = _epoch(parse_datetime(credential["validFrom"], "/validFrom"))
    if "validUntil" in credential:
        payload["exp"] = _epoch(parse_datetime(credential["validUntil"], "/validUntil"))
    return sign_compact(
        payload, private_key, kid=kid, typ=VC_TYP, extra_headers={"cty": "vc", "iss": issuer}
    )


def _key_resolver(resolver: DidResolver, relationship: Relationship) -> ResolveKey:
    def resolve_key(kid: str) -> PublicKey:
        return resolve_verification_key(resolver, kid, relationship)[0]

    return resolve_key


def _check_iss(
    header: Mapping[str, Any], payload: Mapping[str, Any], party: str, code: str
) -> None:
    for where, source in (("header", header), ("payload", payload)):
        if "iss" in source and source["iss"] != party:
            raise Forbidden(
                f"the {where} 'iss' ({source['iss']!r}) differs from {party}",
                code=code,
                pointer="iss" if where == "header" else "/iss",
            )


def _translated(exc: HansaError, codes: Mapping[str, str]) -> HansaError:
    code = codes.get(exc.code)
    if code is None:
        return exc
    # A JWT time claim fails like validFrom/validUntil do (403, as check_validity_period
    # raises), so one failure gets one answer whichever field carried it.
    if code == "vp.audience_mismatch":
        return Unauthorized(exc.detail, code=code, pointer=exc.pointer)
    return Forbidden(exc.detail, code=code, pointer=exc.pointer)


def verify_vc_jwt(
    token: str, resolver: DidResolver, *, now: datetime | None = None
) -> VerifiedCredential:
    """Verify a ``vc+jwt``: issuer's ``assertionMethod`` key, issuer binding, validity, shape."""
    verified = verify_vc_jwt_signature(token, resolver)
    check_credential_times(verified.credential, now or datetime.now(UTC))
    return verified


def verify_vc_jwt_signature(token: str, resolver: DidResolver) -> VerifiedCredential:
    """Every check of :func:`verify_vc_jwt` that does not depend on the time.

    The result holds for these exact token bytes as long as the issuer's DID document is the
    one ``resolver`` returned during the call (:mod:`hansa.identity.credential_cache`); the
    validity period must still be checked at every use (:func:`check_credential_times`).
    """
    # The pure checks run before the signature's: a token that names another DID than its
    # issuer is refused before anything is fetched on its behalf.
    header, unverified = decode_unverified(token)
    kid = check_header(header, allowed_algs=ALGORITHMS, allowed_typs=VC_TYPS)
    issuer = check_credential_shape(unverified)
    _check_signer(kid, issuer, "vc.issuer_mismatch", "issuer")
    header, credential = verify_compact(
        token,
        _key_resolver(resolver, "assertionMethod"),
        allowed_algs=ALGORITHMS,
        allowed_typs=VC_TYPS,
        decoded=(header, unverified),
    )
    _check_iss(header, credential, issuer, "vc.issuer_mismatch")
    return VerifiedCredential(
        credential=credential, issuer=issuer, kid=kid, header=header, token=token
    )


def check_credential_times(credential: dict[str, Any], now: datetime) -> None:
    """Check ``validFrom`` / ``validUntil`` and the JWT ``nbf`` / ``exp`` / ``iat`` at ``now``."""
    check_validity_period(credential, now)
    try:
        check_registered_claims(credential, now=now)
    except HansaError as exc:
        translated = _translated(exc, _VC_TIME_CODES)
        if translated is exc:
            raise
        raise translated from exc


# --- presentations ---------------------------------------------------------------------


def enveloped_credential(token: str, media_type: str = VC_MEDIA_TYPE) -> dict[str, Any]:
    """An ``EnvelopedVerifiableCredential`` carrying a ``vc+jwt`` in a data: URL."""
    return {
        "@context": CREDENTIALS_V2,
        "id": f"data:{media_type},{token}",
        "type": "EnvelopedVerifiableCredential",
    }


def unwrap_enveloped_credential(entry: Any, pointer: str) -> str:
    """The ``vc+jwt`` inside an ``EnvelopedVerifiableCredential`` (W3C or Gaia-X media type)."""
    code = "vp.invalid_presentation"
    if not isinstance(entry, dict):
        raise BadRequest(
            "each verifiableCredential entry must be an object", code=code, pointer=pointer
        )
    if "EnvelopedVerifiableCredential" not in _types(entry.get("type")):
        raise BadRequest(
            "only EnvelopedVerifiableCredential entries (data:application/vc+jwt,...) are "
            "accepted in a vp+jwt; embed other credentials as vc+jwt",
            code="vp.unsupported_credential",
            pointer=pointer,
        )
    url = entry.get("id")
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        raise BadRequest(
            "an enveloped credential's id must be a data: URL", code=code, pointer=f"{pointer}/id"
        )
    media_type, _, token = url.removeprefix("data:").partition(",")
    if media_type.strip().lower() not in VC_MEDIA_TYPES:
        raise BadRequest(
            f"enveloped credential media type {media_type!r} is not accepted; use one of "
            f"{', '.join(VC_MEDIA_TYPES)} (no ;base64 or other parameters)",
            code=code,
            pointer=f"{pointer}/id",
        )
    return token


def issue_vp_jwt(
    credentials: Sequence[str],
    holder: str,
    private_key: PrivateKey,
    kid: str,
    *,
    audience: str | None = None,
    nonce: str | None = None,
    now: datetime | None = None,
    lifetime: timedelta = PRESENTATION_LIFETIME,
) -> str:
    """Present ``credentials`` (``vc+jwt`` tokens) as a ``vp+jwt`` signed by ``holder``'s key."""
    _check_signer(kid, holder, "vp.holder_mismatch", "holder")
    now = now or datetime.now(UTC)
    payload: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": [enveloped_credential(token) for token in credentials],
        "iss": holder,
        "iat": _epoch(now),
        "exp": _epoch(now + lifetime),
    }
    if audience is not None:
        payload["aud"] = audience
    if nonce is not None:
        payload["nonce"] = nonce
    return sign_compact(
        payload, private_key, kid=kid, typ=VP_TYP, extra_headers={"cty": "vp", "iss": holder}
    )


def _check_presentation_shape(presentation: Mapping[str, Any]) -> str:
    code = "vp.invalid_presentation"
    _check_context(presentation, code)
    if "VerifiablePresentation" not in _types(presentation.get("type")):
        raise BadRequest("type must include VerifiablePresentation", code=code, pointer="/type")
    # VCDM 2.0 makes holder optional; a signed presentation needs one to bind the key to.
    holder = _party_id(presentation.get("holder")) or _party_id(presentation.get("iss"))
    if holder is None:
        raise BadRequest(
            "the presentation names no holder (holder or iss: the holder's DID)",
            code=code,
            pointer="/holder",
        )
    return holder


def _at(exc: HansaError, pointer: str, index: int) -> HansaError:
    """Re-raise a credential's error at its place in the presentation, keeping its code."""
    extra = dict(exc.extra)
    if exc.pointer is not None:
        extra["credential_pointer"] = exc.pointer
    return type(exc)(
        f"credential {index}: {exc.detail}",
        code=exc.code,
        pointer=pointer,
        status=exc.status_code,
        errors=exc.errors,
        **extra,
    )


def verify_vp_jwt(
    token: str,
    resolver: DidResolver,
    *,
    audience: str | None = None,
    nonce: str | None = None,
    now: datetime | None = None,
    verify_credential: VerifyCredential | None = None,
) -> VerifiedPresentation:
    """Verify a ``vp+jwt`` and every credential enveloped in it.

    Checks the holder's ``authentication`` key, holder binding, ``exp``/``nbf``/``iat``, and
    ``aud`` / ``nonce`` when they are expected. ``verify_credential(token, now)`` verifies
    each enveloped credential (by default :func:`verify_vc_jwt` with ``resolver``; a
    :class:`~hansa.identity.credential_cache.VerifiedCredentials` remembers the results).
    """
    now = now or datetime.now(UTC)
    header, unverified = decode_unverified(token)
    kid = check_header(header, allowed_algs=ALGORITHMS, allowed_typs=VP_TYPS)
    holder = _check_presentation_shape(unverified)
    _check_signer(kid, holder, "vp.holder_mismatch", "holder")
    header, presentation = verify_compact(
        token,
        _key_resolver(resolver, "authentication"),
        allowed_algs=ALGORITHMS,
        allowed_typs=VP_TYPS,
        decoded=(header, unverified),
    )
    _check_iss(header, presentation, holder, "vp.holder_mismatch")
    try:
        check_registered_claims(presentation, now=now, audience=audience)
    except HansaError as exc:
        translated = _translated(exc, _VP_TIME_CODES)
        if translated is exc:
            raise
        raise translated from exc
    if nonce is not None and presentation.get("nonce") != nonce:
        raise Unauthorized(
            "the presentation's nonce is not the one this verifier issued; ask for a new "
            "presentation with the current nonce",
            code="vp.nonce_mismatch",
            pointer="/nonce",
        )
    entries = presentation.get("verifiableCredential", [])
    entries = entries if isinstance(entries, list) else [entries]
    credentials = []
    for index, entry in enumerate(entries):
        pointer = f"/verifiableCredential/{index}"
        try:
            inner = unwrap_enveloped_credential(entry, pointer)
            if verify_credential is None:
                credentials.append(verify_vc_jwt(inner, resolver, now=now))
            else:
                credentials.append(verify_credential(inner, now))
        except HansaError as exc:
            if exc.pointer is not None and exc.pointer.startswith(pointer):
                raise
            raise _at(exc, pointer, index) from exc
    return VerifiedPresentation(
        holder=holder,
        presentation=presentation,
        credentials=credentials,
        kid=kid,
        header=header,
        token=token,
    )


__all__ = [
    "ALGORITHMS",
    "CREDENTIALS_V2",
    "VC_MEDIA_TYPES",
    "VC_TYP",
    "VC_TYPS",
    "VP_TYP",
    "VP_TYPS",
    "VerifiedCredential",
    "VerifiedPresentation",
    "VerifyCredential",
    "check_credential_shape",
    "check_credential_times",
    "enveloped_credential",
    "issue_vc_jwt",
    "issue_vp_jwt",
    "unwrap_enveloped_credential",
    "verify_vc_jwt",
    "verify_vc_jwt_signature",
    "verify_vp_jwt",
]
