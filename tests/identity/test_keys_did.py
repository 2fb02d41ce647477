"""Key encodings and DID documents: the pure parts of identity."""

from __future__ import annotations

import pytest

from hansa.errors import BadRequest, Forbidden
from hansa.identity.did import (
    build_did_document,
    did_key_from_key,
    did_web_from_url,
    did_web_to_url,
    find_verification_method,
    public_key_of,
    resolve_did_key,
)
from hansa.identity.keys import (
    generate_private_key,
    multikey_decode,
    multikey_encode,
    public_jwk,
    public_key_from_jwk,
    sign,
    verify,
)

# Published in the did:key and vc-di-eddsa specifications.
ED25519_MULTIKEY = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt3swbTQ2"
P256_MULTIKEY = "zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"


@pytest.mark.parametrize("value", [ED25519_MULTIKEY, P256_MULTIKEY])
def test_published_multikeys_round_trip(value: str) -> None:
    assert multikey_encode(multikey_decode(value)) == value


@pytest.mark.parametrize("key_type", ["Ed25519", "P-256"])
def test_jwk_and_multikey_forms_name_the_same_key(key_type: str) -> None:
    key = generate_private_key(key_type)  # type: ignore[arg-type]
    from_jwk = public_key_from_jwk(public_jwk(key))
    from_multikey = multikey_decode(multikey_encode(key))
    signature = sign(key, b"data")
    assert verify(from_jwk, signature, b"data")
    assert verify(from_multikey, signature, b"data")
    assert not verify(from_jwk, signature, b"other")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("mABC", "key.invalid_multikey"),
        ("z111", "key.invalid_multikey"),
        ("z0OIl", "key.invalid_multikey"),
    ],
)
def test_malformed_multikeys_are_refused(value: str, code: str) -> None:
    with pytest.raises(BadRequest) as err:
        multikey_decode(value)
    assert err.value.code == code


def test_jwk_of_unsupported_type_is_refused() -> None:
    with pytest.raises(BadRequest) as err:
        public_key_from_jwk({"kty": "RSA", "n": "AQAB", "e": "AQAB"})
    assert err.value.code == "key.unsupported_type"


def test_did_key_document_lists_its_key_for_signing() -> None:
    key = generate_private_key("Ed25519")
    did = did_key_from_key(key)
    document = resolve_did_key(did)
    method = find_verification_method(document, document["assertionMethod"][0], "assertionMethod")
    assert verify(public_key_of(method), sign(key, b"x"), b"x")


@pytest.mark.parametrize(
    ("url", "did", "document_url"),
    [
        (
            "https://localhost:8443",
            "did:web:localhost%3A8443",
            "https://localhost:8443/.well-known/did.json",
        ),
        ("https://example.com/", "did:web:example.com", "https://example.com/.well-known/did.json"),
        (
            "https://example.com/user/alice",
            "did:web:example.com:user:alice",
            "https://example.com/user/alice/did.json",
        ),
    ],
)
def test_did_web_names_and_urls(url: str, did: str, document_url: str) -> None:
    assert did_web_from_url(url) == did
    assert did_web_to_url(did) == document_url


@pytest.mark.parametrize("did", ["did:web:exa%2Fmple.com", "did:web:a@b", "did:web:x.com:..:etc"])
def test_did_web_names_that_escape_their_host_are_refused(did: str) -> None:
    with pytest.raises((BadRequest, Forbidden)):
        did_web_to_url(did)


def test_key_must_be_in_the_requested_relationship() -> None:
    did = "did:web:example.com"
    signing, agreement = generate_private_key("Ed25519"), generate_private_key("P-256")
    document = build_did_document(did, [("sign", signing)], relationships=["assertionMethod"])
    document["verificationMethod"].append(
        {
            "id": f"{did}#other",
            "type": "JsonWebKey2020",
            "controller": did,
            "publicKeyJwk": public_jwk(agreement),
        }
    )
    assert find_verification_method(document, "#sign", "assertionMethod")["id"] == f"{did}#sign"
    with pytest.raises(Forbidden) as err:
        find_verification_method(document, f"{did}#sign", "authentication")
    assert err.value.code == "did.key_not_authorized"
    with pytest.raises(Forbidden) as err:
        find_verification_method(document, f"{did}#other", "assertionMethod")
    assert err.value.code == "did.key_not_authorized"
    with pytest.raises(Forbidden) as err:
        find_verification_method(document, f"{did}#missing", "assertionMethod")
    assert err.value.code == "did.key_not_found"
    with pytest.raises(Forbidden) as err:
        find_verification_method(document, "did:web:evil.com#sign", "assertionMethod")
    assert err.value.code == "did.key_not_authorized"


def test_document_publishing_a_private_key_is_refused() -> None:
    key = generate_private_key("Ed25519")
    method = {"id": "did:web:x#k", "publicKeyJwk": {**public_jwk(key), "d": "secret"}}
    with pytest.raises(BadRequest) as err:
        public_key_of(method)
    assert err.value.code == "did.invalid_document"
