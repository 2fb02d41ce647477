"""Compact JWS for Hansa: sign, and verify under a strict per-use policy.

The policy every verification enforces, whatever the use (credentials, presentations,
DCP self-issued ID tokens):

- the algorithm comes from the caller's allow-list, which may only name ``EdDSA`` /
  ``Ed25519`` and ``ES256``: never ``none``, never HMAC, never RSA;
- the key comes from the caller (``resolve_key(kid)``, usually a DID document), never from
  the token: a header carrying ``jwk``, ``jku``, ``x5u`` or ``x5c`` is refused outright
  (refusing is clearer than ignoring: a sender who offers a key expects it to be used, and
  an error tells them it will not be);
- ``kid`` is required and is a DID URL (``did:...#fragment``);
- ``typ`` must be one of the caller's allowed media types;
- ``crit`` is refused: Hansa understands no JWS extension (this also rules out RFC 7797
  unencoded payloads);
- the algorithm must fit the resolved key's type.

Signing and checking is done here over ``cryptography`` keys (:mod:`hansa.identity.keys`),
not through a JOSE library: the input is one compact JWS whose segments Hansa decodes and
checks itself (above), and what is left is one signature over the signing input (RFC 7515
section 5). joserfc's ``serialize_compact`` built a registry and wrapped the key on every
call, which was most of the cost of signing an ID token. Ed25519 is emitted as ``EdDSA``
(deployed Gaia-X and EDC verifiers only know that name) and accepted as ``EdDSA`` or RFC
9864's ``Ed25519``; the tests check the tokens against joserfc in both directions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from hansa.errors import BadRequest, ConfigurationError, Unauthorized
from hansa.identity.did import did_method, split_did_url
from hansa.identity.keys import (
    PrivateKey,
    PublicKey,
    b64url,
    b64url_decode,
    jose_algorithm,
    key_type_of,
)
from hansa.identity.keys import sign as make_signature
from hansa.identity.keys import verify as verify_signature

ResolveKey = Callable[[str], PublicKey]

#: Every algorithm Hansa can verify; a caller's allow-list must be a subset.
SUPPORTED_ALGS: frozenset[str] = frozenset({"EdDSA", "Ed25519", "ES256"})
#: Header parameters that would let the token choose its own verification key.
EMBEDDED_KEY_HEADERS: tuple[str, ...] = ("jwk", "jku", "x5u", "x5c")
#: Above this a token is refused before any decoding (a VP with dozens of credentials fits).
MAX_TOKEN_LENGTH = 1_000_000

_ALGS_FOR_KEY_TYPE = {"Ed25519": frozenset({"EdDSA", "Ed25519"}), "P-256": frozenset({"ES256"})}
_B64URL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _check_kid(kid: Any) -> str:
    if not isinstance(kid, str) or not kid:
        raise BadRequest(
            "the JWS header needs a 'kid': the DID URL of the signing key (did:...#key)",
            code="jose.kid_invalid",
            pointer="kid",
        )
    did, fragment = split_did_url(kid)
    try:
        did_method(did)
    except BadRequest as exc:
        raise BadRequest(
            f"'kid' must be a DID URL (did:<method>:<id>#<key>), not {kid!r}",
            code="jose.kid_invalid",
            pointer="kid",
        ) from exc
    if fragment is None:
        raise BadRequest(
            f"'kid' {kid!r} names a DID but no key; add the #fragment of the verification method",
            code="jose.kid_invalid",
            pointer="kid",
        )
    return kid


def normalise_typ(typ: str) -> str:
    """Media types compare case-insensitively, and ``typ`` may omit ``application/`` (RFC 7515)."""
    typ = typ.strip().lower()
    return typ.removeprefix("application/")


def sign_compact(
    payload: Mapping[str, Any],
    private_key: PrivateKey,
    *,
    kid: str,
    typ: str,
    extra_headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``payload`` (a JSON object) as a compact JWS with ``EdDSA`` or ``ES256``."""
    _check_kid(kid)
    header: dict[str, Any] = {"alg": jose_algorithm(private_key), "typ": typ, "kid": kid}
    for name, value in (extra_headers or {}).items():
        if name in header or name in EMBEDDED_KEY_HEADERS or name in {"crit", "b64"}:
            raise ConfigurationError(
                f"extra header {name!r} may not be set here", code="jose.invalid_header"
            )
        header[name] = value
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    encoded_header = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    signing_input = f"{b64url(encoded_header)}.{b64url(body)}"
    signature = make_signature(private_key, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins; two libraries reading one token differently
    # is how signature checks get bypassed, so duplicates are refused.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate member {key!r}")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python accepts them, and an ``exp`` of NaN never expires.
    raise ValueError(f"{name} is not a JSON number")


def _decode_segment(segment: str, what: str) -> dict[str, Any]:
    if not segment or not set(segment) <= _B64URL_CHARS:
        raise BadRequest(f"the JWS {what} is not base64url", code="jose.malformed", pointer=what)
    try:
        value = json.loads(
            b64url_decode(segment), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except (ValueError, BadRequest) as exc:
        raise BadRequest(
            f"the JWS {what} is not valid JSON: {exc}", code="jose.malformed", pointer=what
        ) from exc
    if not isinstance(value, dict):
        raise BadRequest(
            f"the JWS {what} must be a JSON object", code="jose.malformed", pointer=what
        )
    return value


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split and decode a compact JWS into (header, payload) WITHOUT checking anything else.

    For routing only (which DID to resolve, which checks apply); never trust the result.
    """
    if not isinstance(token, str):
        raise BadRequest("a compact JWS must be a string", code="jose.malformed")
    if len(token) > MAX_TOKEN_LENGTH:
        raise BadRequest(
            f"the token is longer than {MAX_TOKEN_LENGTH} characters", code="jose.too_large"
        )
    parts = token.split(".")
    if len(parts) != 3:
        raise BadRequest(
            f"a compact JWS has 3 dot-separated parts, this has {len(parts)}",
            code="jose.malformed",
        )
    if parts[2] and not set(parts[2]) <= _B64URL_CHARS:
        raise BadRequest(
            "the JWS signature is not base64url", code="jose.malformed", pointer="signature"
        )
    return _decode_segment(parts[0], "header"), _decode_segment(parts[1], "payload")


def check_header(
    header: Mapping[str, Any], *, allowed_algs: Collection[str], allowed_typs: Collection[str]
) -> str:
    """Apply the header policy (module docstring); return the ``kid``."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algs:
        raise BadRequest(
            f"JWS algorithm {alg!r} is not accepted here; use one of {sorted(allowed_algs)}",
            code="jose.alg_not_allowed",
            pointer="alg",
        )
    for name in EMBEDDED_KEY_HEADERS:
        if name in header:
            raise BadRequest(
                f"the JWS header offers its own key ({name!r}); Hansa takes keys only from the "
                "signer's DID document: remove it",
                code="jose.embedded_key_refused",
                pointer=name,
            )
    if "crit" in header:
        raise BadRequest(
            f"the JWS header marks {header['crit']!r} as critical; Hansa understands no JWS "
            "extension",
            code="jose.unknown_crit",
            pointer="crit",
        )
    typ = header.get("typ")
    accepted = {normalise_typ(t) for t in allowed_typs}
    if not isinstance(typ, str) or normalise_typ(typ) not in accepted:
        raise BadRequest(
            f"JWS typ {typ!r} is not accepted here; expected one of {sorted(allowed_typs)}",
            code="jose.typ_not_allowed",
            pointer="typ",
        )
    return _check_kid(header.get("kid"))


def verify_compact(
    token: str,
    resolve_key: ResolveKey,
    *,
    allowed_algs: Collection[str],
    allowed_typs: Collection[str],
    decoded: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS under the header policy; return (header, payload).

    ``resolve_key(kid)`` returns the trusted public key for the header's ``kid`` (or raises).
    ``decoded`` is ``decode_unverified(token)`` when the caller has it already.
    """
    unsupported = set(allowed_algs) - SUPPORTED_ALGS
    if unsupported or not allowed_algs:
        raise ConfigurationError(
            f"cannot allow JWS algorithms {sorted(unsupported)}; choose from "
            f"{sorted(SUPPORTED_ALGS)}",
            code="jose.alg_not_supported",
        )
    header, payload = decoded or decode_unverified(token)
    kid = check_header(header, allowed_algs=allowed_algs, allowed_typs=allowed_typs)
    public_key = resolve_key(kid)
    key_type = key_type_of(public_key)
    if header["alg"] not in _ALGS_FOR_KEY_TYPE[key_type]:
        raise BadRequest(
            f"JWS algorithm {header['alg']!r} does not fit the {key_type} key {kid}",
            code="jose.alg_key_mismatch",
            pointer="alg",
        )
    # The segments were decoded and checked above; verifying the raw signature over the
    # signing input (RFC 7515 section 5.2) directly spares a second full parse per token,
    # which is a third of the cost of a vc+jwt verification.
    signing_input, _, signature = token.rpartition(".")
    try:
        raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except ValueError as exc:
        raise BadRequest(
            "the JWS signature is not base64url", code="jose.malformed", pointer="signature"
        ) from exc
    if not verify_signature(public_key, raw_signature, signing_input.encode("ascii")):
        raise BadRequest(
            f"the signature does not verify with key {kid}: the token was altered or signed "
            "with another key",
            code="vc.signature_invalid",
            pointer="signature",
        )
    return header, payload


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float | None:
    if claim not in payload:
        return None
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(
            f"claim {claim!r} must be a NumericDate (seconds since the epoch)",
            code="jose.invalid_claim",
            pointer=f"/{claim}",
        )
    return float(value)


def check_registered_claims(
    payload: Mapping[str, Any],
    *,
    now: datetime,
    audience: str | None = None,
    issuer: str | None = None,
    leeway: int = 60,
    required: Collection[str] = (),
) -> None:
    """Check the JWT claims ``exp``, ``nbf``, ``iat``, ``aud`` and ``iss`` (RFC 7519).

    Time claims are checked when present (``required`` names claims that must be present);
    ``aud`` must contain ``audience`` and ``iss`` must equal ``issuer`` when those are given.
    """
    for claim in required:
        if claim not in payload:
            raise Unauthorized(
                f"the token lacks the required claim {claim!r}",
                code="jose.claim_missing",
                pointer=f"/{claim}",
            )
    current = now.timestamp()
    exp = _numeric_date(payload, "exp")
    if exp is not None and exp + leeway < current:
        raise Unauthorized(
            "the token has expired (exp is in the past)", code="jose.expired", pointer="/exp"
        )
    nbf = _numeric_date(payload, "nbf")
    if nbf is not None and nbf - leeway > current:
        raise Unauthorized(
            "the token is not valid yet (nbf is in the future)",
            code="jose.not_yet_valid",
            pointer="/nbf",
        )
    iat = _numeric_date(payload, "iat")
    if iat is not None and iat - leeway > current:
        raise Unauthorized(
            "the token claims to be issued in the future (iat); check the issuer's clock",
            code="jose.issued_in_future",
            pointer="/iat",
        )
    if audience is not None:
        aud = payload.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(a == audience for a in audiences):
            raise Unauthorized(
                f"the token is not addressed to {audience!r} (aud is {aud!r})",
                code="jose.audience_mismatch",
                pointer="/aud",
            )
    if issuer is not None and payload.get("iss") != issuer:
        raise Unauthorized(
            f"the token's issuer is {payload.get('iss')!r}, expected {issuer!r}",
            code="jose.issuer_mismatch",
            pointer="/iss",
        )


__all__ = [
    "EMBEDDED_KEY_HEADERS",
    "MAX_TOKEN_LENGTH",
    "SUPPORTED_ALGS",
    "ResolveKey",
    "check_header",
    "check_registered_claims",
    "decode_unverified",
    "normalise_typ",
    "sign_compact",
    "verify_compact",
]
