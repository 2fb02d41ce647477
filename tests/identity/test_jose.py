"""Compact JWS: round trips, the header policy against known attacks, JWT claim checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from hansa.errors import ConfigurationError, HansaError
from hansa.identity.did import did_key_from_key
from hansa.identity.jose import (
    MAX_TOKEN_LENGTH,
    check_registered_claims,
    sign_compact,
    verify_compact,
)
from hansa.identity.keys import (
    PrivateKey,
    PublicKey,
    b64url,
    b64url_decode,
    generate_private_key,
    jose_algorithm,
    public_jwk,
    sign,
)

ALGS = {"EdDSA", "Ed25519", "ES256"}
TYPS = ["vc+jwt"]


def kid_of(key: PrivateKey) -> str:
    did = did_key_from_key(key)
    return f"{did}#{did.removeprefix('did:key:')}"


def forge(header: dict[str, Any], payload: Any, key: PrivateKey | None = None) -> str:
    """A compact JWS built by hand (real signature when a key is given), as an attacker would."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    signature = b64url(sign(key, signing_input.encode())) if key is not None else ""
    return f"{signing_input}.{signature}"


class Keys:
    """A resolver that knows one key and counts how often it was asked."""

    def __init__(self, key: PrivateKey) -> None:
        self.public = key.public_key()
        self.calls: list[str] = []

    def __call__(self, kid: str) -> PublicKey:
        self.calls.append(kid)
        return self.public


@pytest.fixture(params=["Ed25519", "P-256"])
def key(request: pytest.FixtureRequest) -> PrivateKey:
    return generate_private_key(request.param)


def verify(token: str, resolve: Callable[[str], PublicKey]) -> tuple[dict[str, Any], Any]:
    return verify_compact(token, resolve, allowed_algs=ALGS, allowed_typs=TYPS)


def code_of(excinfo: pytest.ExceptionInfo[HansaError]) -> str:
    return excinfo.value.code


# --- round trips -----------------------------------------------------------------------


def test_round_trip_emits_eddsa_or_es256(key: PrivateKey) -> None:
    token = sign_compact({"hello": "wörld"}, key, kid=kid_of(key), typ="vc+jwt")
    header, payload = verify(token, Keys(key))
    assert header == {"alg": jose_algorithm(key), "typ": "vc+jwt", "kid": kid_of(key)}
    assert payload == {"hello": "wörld"}


def test_tokens_verify_with_another_jose_library(key: PrivateKey) -> None:
    # Signing is Hansa's own code (no JOSE library): joserfc must accept what it makes.
    token = sign_compact({"hello": "wörld"}, key, kid=kid_of(key), typ="vc+jwt")
    if isinstance(key, Ed25519PrivateKey):
        # joserfc knows Ed25519 by RFC 9864's name only (its EdDSA model warns), so its
        # Ed25519 model checks the signature over the token's signing input.
        assert json.loads(b64url_decode(token.split(".")[0]))["alg"] == "EdDSA"
        signing_input, _, signature = token.rpartition(".")
        model = jws.JWSRegistry(algorithms=["Ed25519"]).get_alg("Ed25519")
        jwk = OKPKey.import_key(key.public_key())
        assert model.verify(signing_input.encode(), b64url_decode(signature), jwk)
    else:
        decoded = jws.deserialize_compact(
            token, ECKey.import_key(key.public_key()), algorithms=["ES256"]
        )
        assert json.loads(decoded.payload) == {"hello": "wörld"}
        assert decoded.headers() == {"alg": "ES256", "typ": "vc+jwt", "kid": kid_of(key)}


def test_rfc9864_ed25519_name_is_accepted_on_input() -> None:
    key = Ed25519PrivateKey.generate()
    header = {"alg": "Ed25519", "typ": "vc+jwt", "kid": kid_of(key)}
    token = jws.serialize_compact(header, b'{"a":1}', OKPKey(key, key), algorithms=["Ed25519"])
    assert verify(token, Keys(key))[1] == {"a": 1}


def test_typ_compares_case_insensitively_and_without_application_prefix(
    key: PrivateKey,
) -> None:
    token = sign_compact({}, key, kid=kid_of(key), typ="application/VC+JWT")
    assert verify(token, Keys(key))[0]["typ"] == "application/VC+JWT"


def test_extra_headers_are_carried_but_cannot_override_or_offer_keys(key: PrivateKey) -> None:
    token = sign_compact({}, key, kid=kid_of(key), typ="vc+jwt", extra_headers={"cty": "vc"})
    assert verify(token, Keys(key))[0]["cty"] == "vc"
    for name in ("alg", "kid", "jwk", "x5c", "crit"):
        with pytest.raises(ConfigurationError) as excinfo:
            sign_compact({}, key, kid=kid_of(key), typ="vc+jwt", extra_headers={name: "x"})
        assert excinfo.value.code == "jose.invalid_header"


def test_signing_needs_a_did_url_kid(key: PrivateKey) -> None:
    with pytest.raises(HansaError) as excinfo:
        sign_compact({}, key, kid="key-1", typ="vc+jwt")
    assert code_of(excinfo) == "jose.kid_invalid"


# --- attacks on the algorithm ------------------------------------------------------------


def test_alg_none_is_refused(key: PrivateKey) -> None:
    token = forge({"alg": "none", "typ": "vc+jwt", "kid": kid_of(key)}, {"a": 1})
    resolve = Keys(key)
    with pytest.raises(HansaError) as excinfo:
        verify(token, resolve)
    assert code_of(excinfo) == "jose.alg_not_allowed"
    assert resolve.calls == []


@pytest.mark.parametrize("secret_form", ["raw", "pem", "jwk"])
def test_hs256_signed_with_the_public_key_is_refused(key: PrivateKey, secret_form: str) -> None:
    # The classic confusion attack: the verifier's public key used as an HMAC secret.
    public = key.public_key()
    secrets = {
        "raw": public.public_bytes(
            serialization.Encoding.X962
            if jose_algorithm(key) == "ES256"
            else serialization.Encoding.Raw,
            serialization.PublicFormat.UncompressedPoint
            if jose_algorithm(key) == "ES256"
            else serialization.PublicFormat.Raw,
        ),
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(public_jwk(key)).encode(),
    }
    unsigned = forge({"alg": "HS256", "typ": "vc+jwt", "kid": kid_of(key)}, {"a": 1})
    signing_input = unsigned.rstrip(".")
    mac = hmac.new(secrets[secret_form], signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(HansaError) as excinfo:
        verify(f"{signing_input}.{b64url(mac)}", Keys(key))
    assert code_of(excinfo) == "jose.alg_not_allowed"


@pytest.mark.parametrize("alg", ["RS256", "ES384", "PS256", "HS512", "NONE", "", None, 1])
def test_algorithms_outside_the_allow_list_are_refused(key: PrivateKey, alg: Any) -> None:
    token = forge({"alg": alg, "typ": "vc+jwt", "kid": kid_of(key)}, {}, key)
    with pytest.raises(HansaError) as excinfo:
        verify(token, Keys(key))
    assert code_of(excinfo) == "jose.alg_not_allowed"


def test_the_allow_list_is_per_use(key: PrivateKey) -> None:
    token = sign_compact({}, key, kid=kid_of(key), typ="vc+jwt")
    other = "ES256" if jose_algorithm(key) != "ES256" else "EdDSA"
    with pytest.raises(HansaError) as excinfo:
        verify_compact(token, Keys(key), allowed_algs={other}, allowed_typs=TYPS)
    assert code_of(excinfo) == "jose.alg_not_allowed"


@pytest.mark.parametrize("allowed", [{"HS256"}, {"ES256", "none"}, set()])
def test_a_caller_cannot_allow_hmac_or_none(key: PrivateKey, allowed: set[str]) -> None:
    token = sign_compact({}, key, kid=kid_of(key), typ="vc+jwt")
    with pytest.raises(ConfigurationError) as excinfo:
        verify_compact(token, Keys(key), allowed_algs=allowed, allowed_typs=TYPS)
    assert excinfo.value.code == "jose.alg_not_supported"


def test_alg_must_fit_the_resolved_key(key: PrivateKey) -> None:
    wrong = "ES256" if jose_algorithm(key) == "EdDSA" else "EdDSA"
    token = forge({"alg": wrong, "typ": "vc+jwt", "kid": kid_of(key)}, {}, key)
    with pytest.raises(HansaError) as excinfo:
        verify(token, Keys(key))
    assert code_of(excinfo) == "jose.alg_key_mismatch"


# --- attacks on the key ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jwk", None),
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIB..."]),
    ],
)
def test_keys_offered_in_the_header_are_refused(name: str, value: Any) -> None:
    victim = generate_private_key("Ed25519")
    attacker = generate_private_key("Ed25519")
    header = {
        "alg": "EdDSA",
        "typ": "vc+jwt",
        "kid": kid_of(victim),
        name: value if value is not None else public_jwk(attacker),
    }
    token = forge(header, {"a": 1}, attacker)
    resolve = Keys(victim)
    with pytest.raises(HansaError) as excinfo:
        verify(token, resolve)
    assert code_of(excinfo) == "jose.embedded_key_refused"
    assert excinfo.value.pointer == name
    assert resolve.calls == []


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"], "exp": 1},
        {"crit": ["b64"], "b64": False},
        {"crit": ["urn:example:unknown"], "urn:example:unknown": True},
        {"crit": []},
    ],
)
def test_critical_extensions_are_refused(key: PrivateKey, extra: dict[str, Any]) -> None:
    token = forge(
        {"alg": jose_algorithm(key), "typ": "vc+jwt", "kid": kid_of(key), **extra}, {}, key
    )
    with pytest.raises(HansaError) as excinfo:
        verify(token, Keys(key))
    assert code_of(excinfo) == "jose.unknown_crit"


@pytest.mark.parametrize("typ", ["JWT", "vp+jwt", "", None, ["vc+jwt"]])
def test_typ_must_be_allowed(key: PrivateKey, typ: Any) -> None:
    header = {"alg": jose_algorithm(key), "kid": kid_of(key)}
    if typ is not None:
        header["typ"] = typ
    with pytest.raises(HansaError) as excinfo:
        verify(forge(header, {}, key), Keys(key))
    assert code_of(excinfo) == "jose.typ_not_allowed"


@pytest.mark.parametrize(
    "kid", [None, "", "key-1", "https://example.com/keys#1", "did:key:z6Mk", "did:web#x", 7]
)
def test_kid_must_be_a_did_url(key: PrivateKey, kid: Any) -> None:
    header: dict[str, Any] = {"alg": jose_algorithm(key), "typ": "vc+jwt"}
    if kid is not None:
        header["kid"] = kid
    with pytest.raises(HansaError) as excinfo:
        verify(forge(header, {}, key), Keys(key))
    assert code_of(excinfo) == "jose.kid_invalid"


# --- tampering -------------------------------------------------------------------------


def test_tampered_payload_fails(key: PrivateKey) -> None:
    token = sign_compact({"amount": 1}, key, kid=kid_of(key), typ="vc+jwt")
    head, _, signature = token.split(".")
    forged = f"{head}.{b64url(json.dumps({'amount': 1000}).encode())}.{signature}"
    with pytest.raises(HansaError) as excinfo:
        verify(forged, Keys(key))
    assert code_of(excinfo) == "vc.signature_invalid"


def test_tampered_signature_fails(key: PrivateKey) -> None:
    token = sign_compact({"amount": 1}, key, kid=kid_of(key), typ="vc+jwt")
    head, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (f"{head}.{body}.{flipped}", f"{head}.{body}.", f"{head}.{body}.AAAA"):
        with pytest.raises(HansaError) as excinfo:
            verify(forged, Keys(key))
        assert code_of(excinfo) == "vc.signature_invalid"


def test_signature_of_another_key_fails(key: PrivateKey) -> None:
    other = generate_private_key("P-256" if jose_algorithm(key) == "ES256" else "Ed25519")
    token = sign_compact({}, other, kid=kid_of(key), typ="vc+jwt")
    with pytest.raises(HansaError) as excinfo:
        verify(token, Keys(key))
    assert code_of(excinfo) == "vc.signature_invalid"


# --- malformed tokens ------------------------------------------------------------------


def _b64json(text: str) -> str:
    return b64url(text.encode())


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.e30.AAAA",
        f"{_b64json('not json')}.e30.AAAA",
        f"{_b64json('[1]')}.e30.AAAA",
        f"{_b64json('{}')}.{_b64json('[1]')}.AAAA",
        f"{_b64json('{}')}.{_b64json('{}')}.A+A/",
        # Duplicate members: which one wins differs between parsers.
        _b64json('{"alg":"ES256","alg":"none"}') + ".e30.AAAA",
        # NaN is not JSON; as exp it would never expire.
        _b64json("{}") + "." + _b64json('{"exp":NaN}') + ".AAAA",
    ],
)
def test_malformed_tokens_are_refused(key: PrivateKey, token: str) -> None:
    with pytest.raises(HansaError) as excinfo:
        verify(token, Keys(key))
    assert code_of(excinfo) == "jose.malformed"


def test_oversized_tokens_are_refused_before_decoding(key: PrivateKey) -> None:
    with pytest.raises(HansaError) as excinfo:
        verify("a" * (MAX_TOKEN_LENGTH + 1), Keys(key))
    assert code_of(excinfo) == "jose.too_large"


def test_a_large_payload_below_the_cap_verifies(key: PrivateKey) -> None:
    # joserfc's own default caps payloads at 128 kB; presentations can be larger.
    payload = {"blob": "x" * 300_000}
    token = sign_compact(payload, key, kid=kid_of(key), typ="vc+jwt")
    assert verify(token, Keys(key))[1] == payload


# --- registered claims -----------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def test_claims_within_their_window_pass() -> None:
    check_registered_claims(
        {"iat": T - 10, "nbf": T - 10, "exp": T + 300, "aud": ["x", "did:web:v"], "iss": "did:i"},
        now=NOW,
        audience="did:web:v",
        issuer="did:i",
        required=("exp", "iat"),
    )
    # The leeway absorbs clock skew on both sides.
    check_registered_claims({"exp": T - 30, "nbf": T + 30, "iat": T + 30}, now=NOW)


@pytest.mark.parametrize(
    ("payload", "code", "pointer"),
    [
        ({"exp": T - 61}, "jose.expired", "/exp"),
        ({"nbf": T + 61}, "jose.not_yet_valid", "/nbf"),
        ({"iat": T + 3600}, "jose.issued_in_future", "/iat"),
        ({"exp": "tomorrow"}, "jose.invalid_claim", "/exp"),
        ({"exp": True}, "jose.invalid_claim", "/exp"),
        ({}, "jose.claim_missing", "/exp"),
    ],
)
def test_time_claims(payload: dict[str, Any], code: str, pointer: str) -> None:
    with pytest.raises(HansaError) as excinfo:
        check_registered_claims(payload, now=NOW, required=("exp",) if not payload else ())
    assert (excinfo.value.code, excinfo.value.pointer) == (code, pointer)


@pytest.mark.parametrize("aud", [None, "did:web:other", ["did:web:other"], 5, [5]])
def test_audience_must_name_the_verifier(aud: Any) -> None:
    payload = {} if aud is None else {"aud": aud}
    with pytest.raises(HansaError) as excinfo:
        check_registered_claims(payload, now=NOW, audience="did:web:v")
    assert excinfo.value.code == "jose.audience_mismatch"
    assert excinfo.value.status_code == 401


def test_issuer_must_match() -> None:
    with pytest.raises(HansaError) as excinfo:
        check_registered_claims({"iss": "did:web:evil"}, now=NOW, issuer="did:web:good")
    assert excinfo.value.code == "jose.issuer_mismatch"


def test_expiry_respects_a_custom_leeway() -> None:
    check_registered_claims({"exp": T - 100}, now=NOW, leeway=120)
    with pytest.raises(HansaError):
        check_registered_claims({"exp": T - 1}, now=NOW, leeway=0)
