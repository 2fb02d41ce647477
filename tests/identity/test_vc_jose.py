"""vc+jwt credentials and vp+jwt presentations: round trips, attacks, a second JOSE library."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hansa.errors import HansaError
from hansa.identity.did import (
    DidDocument,
    build_did_document,
    did_key_from_key,
    resolve_did_key,
)
from hansa.identity.jose import decode_unverified, sign_compact
from hansa.identity.keys import PrivateKey, b64url, generate_private_key, public_jwk
from hansa.identity.validity import format_datetime
from hansa.identity.vc_jose import (
    CREDENTIALS_V2,
    enveloped_credential,
    issue_vc_jwt,
    issue_vp_jwt,
    verify_vc_jwt,
    verify_vp_jwt,
)

with warnings.catch_warnings():
    # authlib.jose announces its own deprecation (in favour of joserfc) once, at import; the
    # import of authlib.deprecate adds an "always" filter, so ours goes in front after it.
    import authlib.deprecate

    warnings.filterwarnings(
        "ignore",
        message="authlib.jose module is deprecated",
        category=authlib.deprecate.AuthlibDeprecationWarning,
    )
    from authlib.jose import JsonWebKey, JsonWebSignature

NOW = datetime.now(UTC)
WEB_DID = "did:web:issuer.example"
VERIFIER = "did:web:verifier.example"


class Resolver:
    """did:key from the key itself, did:web from a dict: no network."""

    def __init__(self, documents: dict[str, DidDocument] | None = None) -> None:
        self.documents = documents or {}
        self.resolved: list[str] = []

    def resolve(self, did: str) -> DidDocument:
        self.resolved.append(did)
        if did.startswith("did:key:"):
            return resolve_did_key(did)
        if did in self.documents:
            return self.documents[did]
        raise HansaError(f"unknown DID {did}", code="did.not_found")


class Party:
    """A DID with one key: did:key for the given key type."""

    def __init__(self, key_type: str = "Ed25519") -> None:
        self.key: PrivateKey = generate_private_key(key_type)  # type: ignore[arg-type]
        self.did = did_key_from_key(self.key)
        self.kid = f"{self.did}#{self.did.removeprefix('did:key:')}"


def credential(issuer: Any, /, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "@context": [CREDENTIALS_V2, "https://w3id.org/gaia-x/development#"],
        "id": "https://issuer.example/credentials/1",
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "issuer": issuer,
        "validFrom": format_datetime(NOW - timedelta(days=1)),
        "validUntil": format_datetime(NOW + timedelta(days=365)),
        "credentialSubject": {"id": "did:web:acme.example", "gx:legalName": "ACME"},
        "credentialStatus": {
            "id": "https://issuer.example/status/1#42",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "42",
            "statusListCredential": "https://issuer.example/status/1",
        },
    }
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


def error_of(excinfo: pytest.ExceptionInfo[HansaError]) -> tuple[str, str | None]:
    return excinfo.value.code, excinfo.value.pointer


@pytest.fixture(params=["Ed25519", "P-256"])
def issuer(request: pytest.FixtureRequest) -> Party:
    return Party(request.param)


@pytest.fixture
def resolver() -> Resolver:
    return Resolver()


# --- credentials: round trips ----------------------------------------------------------


def test_vc_round_trip(issuer: Party, resolver: Resolver) -> None:
    original = credential(issuer.did)
    token = issue_vc_jwt(original, issuer.key, issuer.kid)
    verified = verify_vc_jwt(token, resolver)
    assert verified.issuer == issuer.did
    assert verified.kid == issuer.kid
    assert verified.token == token
    # The payload is the credential, plus the JWT claims Gaia-X verifiers read.
    assert {
        k: v for k, v in verified.credential.items() if k not in {"iss", "iat", "nbf", "exp"}
    } == original
    assert verified.credential["iss"] == issuer.did
    assert verified.credential["exp"] == int(
        datetime.fromisoformat(original["validUntil"]).timestamp()
    )
    assert verified.credential["credentialStatus"]["statusListIndex"] == "42"
    assert verified.header["typ"] == "vc+jwt"
    assert verified.header["cty"] == "vc"
    assert verified.header["iss"] == issuer.did


def test_vc_with_issuer_object_and_did_web(resolver: Resolver) -> None:
    key = generate_private_key("P-256")
    resolver.documents[WEB_DID] = build_did_document(WEB_DID, [("key-1", key)])
    token = issue_vc_jwt(credential({"id": WEB_DID, "name": "Issuer"}), key, f"{WEB_DID}#key-1")
    assert verify_vc_jwt(token, resolver).issuer == WEB_DID


@pytest.mark.parametrize("typ", ["vc+ld+json+jwt", "vc+ld+jwt", "vc-ld+jwt", "application/vc+jwt"])
def test_gaia_x_typ_variants_are_accepted(issuer: Party, resolver: Resolver, typ: str) -> None:
    token = sign_compact(credential(issuer.did), issuer.key, kid=issuer.kid, typ=typ)
    assert verify_vc_jwt(token, resolver).issuer == issuer.did


def test_issuing_refuses_a_key_of_another_did(issuer: Party) -> None:
    with pytest.raises(HansaError) as excinfo:
        issue_vc_jwt(credential("did:web:someone.else"), issuer.key, issuer.kid)
    assert error_of(excinfo) == ("vc.issuer_mismatch", "kid")


# --- credentials: attacks ----------------------------------------------------------------


def test_kid_of_another_did_than_the_issuer(resolver: Resolver) -> None:
    victim, attacker = Party(), Party()
    token = sign_compact(credential(victim.did), attacker.key, kid=attacker.kid, typ="vc+jwt")
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver)
    assert error_of(excinfo) == ("vc.issuer_mismatch", "kid")
    assert resolver.resolved == []  # refused before anything was resolved


@pytest.mark.parametrize("where", ["header", "payload"])
def test_iss_claim_must_name_the_issuer(issuer: Party, resolver: Resolver, where: str) -> None:
    payload = credential(issuer.did)
    extra = {}
    if where == "header":
        extra["iss"] = "did:web:evil.example"
    else:
        payload["iss"] = "did:web:evil.example"
    token = sign_compact(payload, issuer.key, kid=issuer.kid, typ="vc+jwt", extra_headers=extra)
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver)
    assert excinfo.value.code == "vc.issuer_mismatch"


def test_key_not_in_assertion_method(resolver: Resolver) -> None:
    key = generate_private_key("Ed25519")
    resolver.documents[WEB_DID] = build_did_document(
        WEB_DID, [("key-1", key)], relationships=("authentication",)
    )
    token = issue_vc_jwt(credential(WEB_DID), key, f"{WEB_DID}#key-1")
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver)
    assert excinfo.value.code == "did.key_not_authorized"


def test_key_missing_from_the_did_document(resolver: Resolver) -> None:
    key = generate_private_key("Ed25519")
    resolver.documents[WEB_DID] = build_did_document(WEB_DID, [("key-1", key)])
    token = issue_vc_jwt(credential(WEB_DID), key, f"{WEB_DID}#key-2")
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver)
    assert excinfo.value.code == "did.key_not_found"


def test_tampered_credential(issuer: Party, resolver: Resolver) -> None:
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    head, _, signature = token.split(".")
    _, payload = decode_unverified(token)
    payload["credentialSubject"]["gx:legalName"] = "EVIL Corp"
    forged = f"{head}.{b64url(json.dumps(payload).encode())}.{signature}"
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(forged, resolver)
    assert excinfo.value.code == "vc.signature_invalid"


def test_tampered_signature(issuer: Party, resolver: Resolver) -> None:
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    flipped = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(flipped, resolver)
    assert excinfo.value.code == "vc.signature_invalid"


@pytest.mark.parametrize(
    ("now", "code", "pointer"),
    [
        (NOW + timedelta(days=400), "vc.expired", "/validUntil"),
        (NOW - timedelta(days=2), "vc.not_yet_valid", "/validFrom"),
    ],
)
def test_validity_period(
    issuer: Party, resolver: Resolver, now: datetime, code: str, pointer: str
) -> None:
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver, now=now)
    assert error_of(excinfo) == (code, pointer)
    assert excinfo.value.status_code == 403


def test_jwt_exp_alone_also_expires_a_credential(issuer: Party, resolver: Resolver) -> None:
    payload = credential(issuer.did, validUntil=None)
    payload["exp"] = int((NOW - timedelta(hours=1)).timestamp())
    token = sign_compact(payload, issuer.key, kid=issuer.kid, typ="vc+jwt")
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver)
    assert error_of(excinfo) == ("vc.expired", "/exp")


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"@context": ["https://www.w3.org/2018/credentials/v1"]}, "/@context"),
        ({"@context": None}, "/@context"),
        ({"type": ["gx:LegalPerson"]}, "/type"),
        ({"issuer": None}, "/issuer"),
        ({"issuer": {"name": "no id"}}, "/issuer"),
        ({"credentialSubject": None}, "/credentialSubject"),
        ({"credentialSubject": []}, "/credentialSubject"),
        ({"credentialSubject": "did:web:acme.example"}, "/credentialSubject"),
    ],
)
def test_credential_shape(
    issuer: Party, resolver: Resolver, changes: dict[str, Any], pointer: str
) -> None:
    bad = credential(issuer.did, **changes)
    with pytest.raises(HansaError) as excinfo:
        issue_vc_jwt(bad, issuer.key, issuer.kid)
    assert error_of(excinfo) == ("vc.invalid_credential", pointer)
    token = sign_compact(bad, issuer.key, kid=issuer.kid, typ="vc+jwt")
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver)
    assert error_of(excinfo) == ("vc.invalid_credential", pointer)


def test_a_presentation_is_not_a_credential(issuer: Party, resolver: Resolver) -> None:
    vc = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    vp = issue_vp_jwt([vc], issuer.did, issuer.key, issuer.kid)
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(vp, resolver)
    assert excinfo.value.code == "jose.typ_not_allowed"


def test_alg_none_credential(issuer: Party, resolver: Resolver) -> None:
    header = {"alg": "none", "typ": "vc+jwt", "kid": issuer.kid}
    token = (
        ".".join(b64url(json.dumps(part).encode()) for part in (header, credential(issuer.did)))
        + "."
    )
    with pytest.raises(HansaError) as excinfo:
        verify_vc_jwt(token, resolver)
    assert excinfo.value.code == "jose.alg_not_allowed"


# --- presentations -------------------------------------------------------------------------


@pytest.fixture
def holder() -> Party:
    return Party("Ed25519")


@pytest.fixture
def two_credentials() -> list[str]:
    ed, p256 = Party("Ed25519"), Party("P-256")
    return [
        issue_vc_jwt(credential(ed.did), ed.key, ed.kid),
        issue_vc_jwt(credential(p256.did), p256.key, p256.kid),
    ]


def test_vp_round_trip(holder: Party, two_credentials: list[str], resolver: Resolver) -> None:
    token = issue_vp_jwt(
        two_credentials, holder.did, holder.key, holder.kid, audience=VERIFIER, nonce="n-1"
    )
    verified = verify_vp_jwt(token, resolver, audience=VERIFIER, nonce="n-1")
    assert verified.holder == holder.did
    assert verified.kid == holder.kid
    assert verified.header["typ"] == "vp+jwt"
    assert [c.token for c in verified.credentials] == two_credentials
    entries = verified.presentation["verifiableCredential"]
    assert entries[0]["type"] == "EnvelopedVerifiableCredential"
    assert entries[0]["id"] == f"data:application/vc+jwt,{two_credentials[0]}"
    # Without expectations the audience and nonce are not checked.
    assert len(verify_vp_jwt(token, resolver).credentials) == 2


@pytest.mark.parametrize(
    ("audience", "expected"), [(None, VERIFIER), ("did:web:other.example", VERIFIER)]
)
def test_vp_audience_mismatch(
    holder: Party, resolver: Resolver, audience: str | None, expected: str
) -> None:
    token = issue_vp_jwt([], holder.did, holder.key, holder.kid, audience=audience)
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver, audience=expected)
    assert error_of(excinfo) == ("vp.audience_mismatch", "/aud")
    assert excinfo.value.status_code == 401


@pytest.mark.parametrize("nonce", [None, "old-nonce"])
def test_vp_nonce_mismatch(holder: Party, resolver: Resolver, nonce: str | None) -> None:
    token = issue_vp_jwt([], holder.did, holder.key, holder.kid, nonce=nonce)
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver, nonce="fresh-nonce")
    assert error_of(excinfo) == ("vp.nonce_mismatch", "/nonce")


def test_vp_expires(holder: Party, resolver: Resolver) -> None:
    token = issue_vp_jwt([], holder.did, holder.key, holder.kid)
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver, now=NOW + timedelta(hours=1))
    assert error_of(excinfo) == ("vp.expired", "/exp")


def test_vp_signed_by_someone_else_than_the_holder(holder: Party, resolver: Resolver) -> None:
    with pytest.raises(HansaError) as excinfo:
        issue_vp_jwt([], "did:web:someone.example", holder.key, holder.kid)
    assert excinfo.value.code == "vp.holder_mismatch"
    payload = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiablePresentation"],
        "holder": "did:web:victim.example",
    }
    token = sign_compact(payload, holder.key, kid=holder.kid, typ="vp+jwt")
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver)
    assert error_of(excinfo) == ("vp.holder_mismatch", "kid")


def test_vp_key_must_be_an_authentication_key(resolver: Resolver) -> None:
    key = generate_private_key("Ed25519")
    resolver.documents[WEB_DID] = build_did_document(
        WEB_DID, [("key-1", key)], relationships=("assertionMethod",)
    )
    token = issue_vp_jwt([], WEB_DID, key, f"{WEB_DID}#key-1")
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver)
    assert excinfo.value.code == "did.key_not_authorized"


def test_tampered_enveloped_credential(
    holder: Party, two_credentials: list[str], resolver: Resolver
) -> None:
    head, _, signature = two_credentials[1].split(".")
    _, payload = decode_unverified(two_credentials[1])
    payload["credentialSubject"]["gx:legalName"] = "EVIL Corp"
    tampered = f"{head}.{b64url(json.dumps(payload).encode())}.{signature}"
    token = issue_vp_jwt([two_credentials[0], tampered], holder.did, holder.key, holder.kid)
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver)
    assert error_of(excinfo) == ("vc.signature_invalid", "/verifiableCredential/1")
    assert excinfo.value.detail.startswith("credential 1:")


def test_expired_enveloped_credential_points_at_both_places(
    holder: Party, resolver: Resolver
) -> None:
    issuer = Party()
    expired = credential(
        issuer.did,
        validFrom=format_datetime(NOW - timedelta(days=30)),
        validUntil=format_datetime(NOW - timedelta(days=1)),
    )
    vc = issue_vc_jwt(expired, issuer.key, issuer.kid)
    token = issue_vp_jwt([vc], holder.did, holder.key, holder.kid)
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver)
    assert error_of(excinfo) == ("vc.expired", "/verifiableCredential/0")
    assert excinfo.value.to_problem()["credential_pointer"] == "/validUntil"


def _vp_with_entries(holder: Party, entries: list[Any]) -> str:
    payload = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": entries,
    }
    return sign_compact(payload, holder.key, kid=holder.kid, typ="vp+ld+json+jwt")


@pytest.mark.parametrize(
    "media_type", ["application/vc+ld+json+jwt", "application/vc+ld+jwt", "APPLICATION/VC+JWT"]
)
def test_gaia_x_enveloped_media_type_is_accepted(
    holder: Party, two_credentials: list[str], resolver: Resolver, media_type: str
) -> None:
    entries = [enveloped_credential(t, media_type) for t in two_credentials]
    verified = verify_vp_jwt(_vp_with_entries(holder, entries), resolver)
    assert len(verified.credentials) == 2


@pytest.mark.parametrize(
    ("entry", "code", "pointer"),
    [
        ("a-string", "vp.invalid_presentation", "/verifiableCredential/0"),
        (
            {"type": "EnvelopedVerifiableCredential", "id": "https://x.example/vc"},
            "vp.invalid_presentation",
            "/verifiableCredential/0/id",
        ),
        (
            {"type": "EnvelopedVerifiableCredential", "id": "data:text/plain,abc"},
            "vp.invalid_presentation",
            "/verifiableCredential/0/id",
        ),
        (
            {"type": "EnvelopedVerifiableCredential", "id": "data:application/vc+jwt;base64,e30"},
            "vp.invalid_presentation",
            "/verifiableCredential/0/id",
        ),
        (
            {"type": ["VerifiableCredential"], "issuer": "did:web:x", "proof": {}},
            "vp.unsupported_credential",
            "/verifiableCredential/0",
        ),
        (
            {"type": "EnvelopedVerifiableCredential", "id": "data:application/vc+jwt,not.a.jwt"},
            "jose.malformed",
            "/verifiableCredential/0",
        ),
    ],
)
def test_bad_enveloped_entries(
    holder: Party, resolver: Resolver, entry: Any, code: str, pointer: str
) -> None:
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(_vp_with_entries(holder, [entry]), resolver)
    assert error_of(excinfo) == (code, pointer)


def test_vp_shape(holder: Party, resolver: Resolver) -> None:
    payload = {"@context": [CREDENTIALS_V2], "type": ["VerifiableCredential"], "holder": holder.did}
    token = sign_compact(payload, holder.key, kid=holder.kid, typ="vp+jwt")
    with pytest.raises(HansaError) as excinfo:
        verify_vp_jwt(token, resolver)
    assert error_of(excinfo) == ("vp.invalid_presentation", "/type")


# --- a second, independent JOSE implementation ----------------------------------------------


def _authlib_keys(party: Party) -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import serialization

    pem = party.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The public key as a verifier finds it: the JWK form of the DID document's key.
    return JsonWebKey.import_key(pem), JsonWebKey.import_key(public_jwk(party.key))


def test_authlib_verifies_hansa_vc_jwt(issuer: Party, resolver: Resolver) -> None:
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    _, public = _authlib_keys(issuer)
    result = JsonWebSignature(algorithms=["EdDSA", "ES256"]).deserialize_compact(token, public)
    assert result["header"]["kid"] == issuer.kid
    assert json.loads(result["payload"]) == verify_vc_jwt(token, resolver).credential


def test_hansa_verifies_authlib_vc_jwt(issuer: Party, resolver: Resolver) -> None:
    private, _ = _authlib_keys(issuer)
    alg = "EdDSA" if issuer.did.startswith("did:key:z6Mk") else "ES256"
    header = {"alg": alg, "typ": "vc+jwt", "kid": issuer.kid}
    token = JsonWebSignature(algorithms=[alg]).serialize_compact(
        header, json.dumps(credential(issuer.did)).encode(), private
    )
    verified = verify_vc_jwt(token.decode(), resolver)
    assert verified.credential == credential(issuer.did)
    assert verified.issuer == issuer.did
