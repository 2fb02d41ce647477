"""DCP self-issued ID tokens and access tokens: round trips and every refusal with its code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dcp_parties import Party, Resolver

from hansa.connector.dcp import (
    ACCESS_TOKEN_TYP,
    IdTokenClaims,
    bearer_token,
    issue_access_token,
    issue_id_token,
    verify_access_token,
    verify_id_token,
)
from hansa.errors import ConfigurationError, HansaError, Unauthorized
from hansa.identity.did import did_key_from_key
from hansa.identity.jose import sign_compact
from hansa.identity.keys import b64url, generate_private_key, sign

NOW = datetime.now(UTC).replace(microsecond=0)
CONSUMER = "did:web:consumer.example"
PROVIDER = "did:web:provider.example"


class MemoryReplay:
    """The replay store's contract in memory (the database one is tested in test_replay)."""

    def __init__(self) -> None:
        self.seen: dict[str, datetime] = {}

    def check_and_remember(self, jti: str, issuer: str, expires_at: datetime) -> None:
        if jti in self.seen:
            raise Unauthorized("replayed", code="dcp.token_replayed")
        self.seen[jti] = expires_at


@pytest.fixture
def resolver() -> Resolver:
    return Resolver()


@pytest.fixture
def consumer(resolver: Resolver) -> Party:
    return Party(CONSUMER).publish(resolver)


@pytest.fixture
def provider(resolver: Resolver) -> Party:
    return Party(PROVIDER).publish(resolver)


def _token(party: Party, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "issuer_did": party.did,
        "private_key": party.key,
        "kid": party.kid,
        "audience": PROVIDER,
        "now": NOW,
    }
    arguments.update(overrides)
    return issue_id_token(**arguments)


def _verify(token: str | None, resolver: Resolver, **overrides: Any) -> IdTokenClaims:
    arguments: dict[str, Any] = {"audience": PROVIDER, "replay": MemoryReplay(), "now": NOW}
    arguments.update(overrides)
    return verify_id_token(token, resolver, **arguments)


def _crafted(party: Party, payload: dict[str, Any], **header: Any) -> str:
    return sign_compact(payload, party.key, kid=party.kid, typ=header.get("typ", "JWT"))


def _claims(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": CONSUMER,
        "sub": CONSUMER,
        "aud": PROVIDER,
        "jti": "jti-1",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def _code(exc: pytest.ExceptionInfo[HansaError]) -> tuple[str, int]:
    return exc.value.code, exc.value.status_code


# --- ID tokens -----------------------------------------------------------------------------


def test_id_token_round_trip_carries_the_access_token(resolver: Resolver, consumer: Party) -> None:
    token = _token(consumer, access_token="opaque-access-token")
    header = json.loads(_b64decode(token.split(".")[0]))
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": consumer.kid}
    claims = _verify(token, resolver)
    assert claims.issuer == claims.subject == CONSUMER
    assert claims.access_token == "opaque-access-token"
    assert claims.kid == consumer.kid
    assert claims.expires_at == NOW + timedelta(minutes=5)


def test_did_key_issuer_is_accepted(resolver: Resolver) -> None:
    key = generate_private_key()
    did = did_key_from_key(key)
    party = Party(did, key, did.removeprefix("did:key:"))
    claims = _verify(_token(party), resolver)
    assert claims.issuer == did


def test_token_without_kid_uses_the_only_verification_method(
    resolver: Resolver, consumer: Party
) -> None:
    header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
    body = b64url(json.dumps(_claims()).encode())
    signature = b64url(sign(consumer.key, f"{header}.{body}".encode()))
    claims = _verify(f"{header}.{body}.{signature}", resolver)
    assert claims.kid == consumer.kid


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_missing_token(resolver: Resolver, authorization: str | None) -> None:
    with pytest.raises(HansaError) as exc:
        _verify(bearer_token(authorization), resolver)
    assert _code(exc) == ("dcp.token_missing", 401)


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "eyJ.eyJ.sig"])
def test_authorization_must_be_bearer(authorization: str) -> None:
    with pytest.raises(HansaError) as exc:
        bearer_token(authorization)
    assert _code(exc) == ("dcp.token_missing", 401)
    assert bearer_token("bearer  abc ") == "abc"


def test_token_for_another_audience(resolver: Resolver, consumer: Party) -> None:
    token = _token(consumer, audience="did:web:someone-else.example")
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver)
    assert _code(exc) == ("dcp.audience_mismatch", 401)
    assert resolver.resolved == []  # refused before anything was fetched for it


def test_expired_token(resolver: Resolver, consumer: Party) -> None:
    token = _token(consumer, now=NOW - timedelta(minutes=10))
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver)
    assert _code(exc) == ("dcp.token_expired", 401)


def test_expiry_within_leeway_is_accepted(resolver: Resolver, consumer: Party) -> None:
    token = _token(consumer, now=NOW - timedelta(minutes=5, seconds=10))
    assert _verify(token, resolver).issuer == CONSUMER


def test_token_valid_too_long_is_refused(resolver: Resolver, consumer: Party) -> None:
    token = _crafted(consumer, _claims(exp=int((NOW + timedelta(hours=1)).timestamp())))
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver)
    assert _code(exc) == ("dcp.token_invalid", 401)
    assert exc.value.pointer == "/exp"
    with pytest.raises(ConfigurationError):
        _token(consumer, lifetime=timedelta(hours=1))


def test_issuer_differs_from_subject(resolver: Resolver, consumer: Party) -> None:
    token = _crafted(consumer, _claims(sub="did:web:victim.example"))
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver)
    assert _code(exc) == ("dcp.issuer_subject_mismatch", 401)


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"jti": None}, "/jti"),
        ({"iat": None}, "/iat"),
        ({"exp": None}, "/exp"),
        ({"iss": "consumer", "sub": "consumer"}, "/iss"),
        ({"token": 42}, "/token"),
    ],
)
def test_required_claims(
    resolver: Resolver, consumer: Party, overrides: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(HansaError) as exc:
        _verify(_crafted(consumer, _claims(**overrides)), resolver)
    assert _code(exc) == ("dcp.token_invalid", 401)
    assert exc.value.pointer == pointer


def test_key_not_under_capability_invocation(resolver: Resolver) -> None:
    party = Party(CONSUMER).publish(resolver, relationships=("authentication", "assertionMethod"))
    with pytest.raises(HansaError) as exc:
        _verify(_token(party), resolver)
    assert _code(exc) == ("dcp.key_not_authorized", 401)


def test_key_of_another_did(resolver: Resolver, consumer: Party, provider: Party) -> None:
    token = sign_compact(_claims(), provider.key, kid=provider.kid, typ="JWT")
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver)
    assert _code(exc) == ("dcp.key_not_authorized", 401)


def test_signature_tampered(resolver: Resolver, consumer: Party) -> None:
    header, body, signature = _token(consumer).split(".")
    claims = json.loads(_b64decode(body))
    claims["token"] = "an access token of someone else"
    forged = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    replay = MemoryReplay()
    with pytest.raises(HansaError) as exc:
        _verify(forged, resolver, replay=replay)
    assert _code(exc) == ("dcp.token_invalid", 401)
    assert exc.value.extra["cause"] == "vc.signature_invalid"
    assert replay.seen == {}  # a forgery does not use up the genuine token's jti


def test_signed_by_an_unknown_key(resolver: Resolver, consumer: Party) -> None:
    impostor = Party(CONSUMER)  # same DID and key id, another key
    with pytest.raises(HansaError) as exc:
        _verify(_token(impostor), resolver)
    assert _code(exc) == ("dcp.token_invalid", 401)


def test_replayed_token(resolver: Resolver, consumer: Party) -> None:
    token = _token(consumer)
    replay = MemoryReplay()
    _verify(token, resolver, replay=replay)
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver, replay=replay)
    assert _code(exc) == ("dcp.token_replayed", 401)


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "e30.e30."])
def test_malformed_token(resolver: Resolver, token: str) -> None:
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver)
    assert _code(exc) == ("dcp.token_invalid", 401)


def test_access_token_is_no_id_token(resolver: Resolver, consumer: Party) -> None:
    token = _crafted(consumer, _claims(), typ=ACCESS_TOKEN_TYP)
    with pytest.raises(HansaError) as exc:
        _verify(token, resolver)
    assert _code(exc) == ("dcp.token_invalid", 401)
    assert exc.value.extra["cause"] == "jose.typ_not_allowed"


def test_unresolvable_issuer(resolver: Resolver) -> None:
    stranger = Party("did:web:nowhere.example")
    with pytest.raises(HansaError) as exc:
        _verify(_token(stranger), resolver)
    assert _code(exc) == ("dcp.issuer_unresolvable", 401)
    assert exc.value.extra["cause"] == "did.not_found"


def test_issuing_with_a_key_of_another_did(consumer: Party, provider: Party) -> None:
    with pytest.raises(ConfigurationError) as exc:
        _token(consumer, kid=provider.kid)
    assert exc.value.code == "dcp.signing_key_mismatch"


# --- access tokens ---------------------------------------------------------------------------


def _access(holder: Party, verifier: str = PROVIDER, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "holder_did": holder.did,
        "private_key": holder.key,
        "kid": holder.kid,
        "verifier_did": verifier,
        "scopes": ["org.eclipse.dspace.dcp.vc.type:MembershipCredential:read"],
        "now": NOW,
    }
    arguments.update(overrides)
    return issue_access_token(**arguments)


def test_access_token_round_trip(resolver: Resolver, consumer: Party) -> None:
    grant = verify_access_token(
        _access(consumer), resolver, holder_did=CONSUMER, bearer_did=PROVIDER, now=NOW
    )
    assert grant.scopes == ("org.eclipse.dspace.dcp.vc.type:MembershipCredential:read",)
    assert grant.verifier == PROVIDER


def test_access_token_granted_to_another_verifier(resolver: Resolver, consumer: Party) -> None:
    token = _access(consumer, verifier="did:web:other.example")
    with pytest.raises(HansaError) as exc:
        verify_access_token(token, resolver, holder_did=CONSUMER, bearer_did=PROVIDER, now=NOW)
    assert _code(exc) == ("dcp.access_token_not_bound", 403)


def test_access_token_missing(resolver: Resolver) -> None:
    with pytest.raises(HansaError) as exc:
        verify_access_token(None, resolver, holder_did=CONSUMER, bearer_did=PROVIDER, now=NOW)
    assert _code(exc) == ("dcp.access_token_missing", 401)


def test_access_token_refusals(resolver: Resolver, consumer: Party, provider: Party) -> None:
    cases = {
        "an ID token": (_token(consumer, audience=CONSUMER), "dcp.access_token_invalid"),
        "issued by another": (_access(provider, verifier=PROVIDER), "dcp.access_token_invalid"),
        "expired": (_access(consumer, now=NOW - timedelta(hours=1)), "dcp.access_token_expired"),
        "garbage": ("x.y", "dcp.access_token_invalid"),
    }
    for name, (token, code) in cases.items():
        with pytest.raises(HansaError) as exc:
            verify_access_token(token, resolver, holder_did=CONSUMER, bearer_did=PROVIDER, now=NOW)
        assert _code(exc) == (code, 401), name


def test_access_token_forged_signature(resolver: Resolver, consumer: Party) -> None:
    header, body, signature = _access(consumer).split(".")
    claims = json.loads(_b64decode(body))
    claims["scope"] = "org.eclipse.dspace.dcp.vc.type:Everything:read"
    forged = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(HansaError) as exc:
        verify_access_token(forged, resolver, holder_did=CONSUMER, bearer_did=PROVIDER, now=NOW)
    assert _code(exc) == ("dcp.access_token_invalid", 401)


def _b64decode(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_p256_issuer_signs_with_es256(resolver: Resolver) -> None:
    party = Party(CONSUMER, generate_private_key("P-256")).publish(resolver)
    token = _token(party)
    assert json.loads(_b64decode(token.split(".")[0]))["alg"] == "ES256"
    assert _verify(token, resolver).issuer == CONSUMER


def test_token_not_yet_valid(resolver: Resolver, consumer: Party) -> None:
    future = int((NOW + timedelta(minutes=3)).timestamp())
    with pytest.raises(HansaError) as exc:
        _verify(_crafted(consumer, _claims(nbf=future)), resolver)
    assert _code(exc) == ("dcp.token_invalid", 401)
    assert exc.value.pointer == "/nbf"
