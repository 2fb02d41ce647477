"""Data access tokens: issued and verified by the provider's key, strictly."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from hansa.dataplane.errors import AgreementNotInForce
from hansa.dataplane.tokens import DataGrant, DataTokenAuthority
from hansa.errors import HansaError
from hansa.identity.jose import sign_compact
from hansa.identity.keys import b64url, generate_private_key

PROVIDER = "did:web:provider.test"
KID = PROVIDER + "#key-1"
ENDPOINT = "https://provider.test/data"
GRANT = DataGrant("agreement-1", "transfer-1", "did:web:consumer.test", "asset-1")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authority(clock: Clock) -> DataTokenAuthority:
    return DataTokenAuthority(
        generate_private_key(), kid=KID, issuer=PROVIDER, audience=ENDPOINT, clock=clock
    )


def code_of(authority: DataTokenAuthority, token: str) -> str:
    with pytest.raises(HansaError) as caught:
        authority.verify(token)
    assert caught.value.status_code == 401
    return caught.value.code


def test_issue_and_verify(authority: DataTokenAuthority) -> None:
    issued = authority.issue(GRANT)
    verified = authority.verify(issued.token)
    assert verified.grant == GRANT
    assert verified.token_id == issued.token_id
    assert verified.expires_at == NOW + timedelta(minutes=10)
    header = json.loads(base64.urlsafe_b64decode(issued.token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "hansa-data+jwt", "kid": KID}


def test_expired_token(authority: DataTokenAuthority, clock: Clock) -> None:
    token = authority.issue(GRANT).token
    clock.now = NOW + timedelta(minutes=11)
    assert code_of(authority, token) == "dataplane.token_expired"


def test_renew_gives_a_new_token_while_the_agreement_holds(
    authority: DataTokenAuthority, clock: Clock
) -> None:
    first = authority.issue(GRANT)
    clock.now = NOW + timedelta(minutes=9)
    checked: list[tuple[str, str, str]] = []
    renewed = authority.renew(first.token, lambda *args: checked.append(args))
    assert checked == [("agreement-1", "did:web:consumer.test", "asset-1")]
    assert renewed.token_id != first.token_id
    assert renewed.expires_at == NOW + timedelta(minutes=19)
    assert authority.verify(renewed.token).grant == GRANT

    def revoked(*args: str) -> None:
        raise AgreementNotInForce("revoked", code="dataplane.agreement_revoked")

    with pytest.raises(HansaError) as caught:
        authority.renew(renewed.token, revoked)
    assert caught.value.code == "dataplane.agreement_revoked"
    clock.now = NOW + timedelta(minutes=30)
    with pytest.raises(HansaError) as caught:
        authority.renew(renewed.token)
    assert caught.value.code == "dataplane.token_expired"


def test_other_key_audience_issuer_and_typ_are_refused(
    authority: DataTokenAuthority, clock: Clock
) -> None:
    other_key = DataTokenAuthority(
        generate_private_key(), kid=KID, issuer=PROVIDER, audience=ENDPOINT, clock=clock
    )
    assert code_of(authority, other_key.issue(GRANT).token) == "dataplane.token_invalid"
    for kwargs in (
        {"kid": PROVIDER + "#key-2", "issuer": PROVIDER, "audience": ENDPOINT},
        {"kid": KID, "issuer": "did:web:other.test", "audience": ENDPOINT},
        {"kid": KID, "issuer": PROVIDER, "audience": "https://other.test/data"},
    ):
        forger = DataTokenAuthority(authority._private_key, clock=clock, **kwargs)
        assert code_of(authority, forger.issue(GRANT).token) == "dataplane.token_invalid"
    valid = authority.issue(GRANT)
    payload = authority.verify(valid.token)
    assert payload.grant == GRANT
    wrong_typ = sign_compact(
        {"iss": PROVIDER, "aud": ENDPOINT}, authority._private_key, kid=KID, typ="vc+jwt"
    )
    assert code_of(authority, wrong_typ) == "dataplane.token_invalid"


@pytest.mark.parametrize(
    "payload_change",
    [{"agreement_id": ""}, {"transfer_id": 5}, {"asset_id": None}, {"sub": ""}],
)
def test_grant_claims_must_be_strings(
    authority: DataTokenAuthority, payload_change: dict[str, object]
) -> None:
    payload: dict[str, object] = {
        "iss": PROVIDER,
        "sub": GRANT.consumer_did,
        "aud": ENDPOINT,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 60,
        "jti": "x",
        "agreement_id": "a",
        "transfer_id": "t",
        "asset_id": "s",
    }
    payload.update(payload_change)
    token = sign_compact(payload, authority._private_key, kid=KID, typ="hansa-data+jwt")
    assert code_of(authority, token) == "dataplane.token_invalid"


@pytest.mark.parametrize("token", ["", "a.b", "not.a.token", "x" * 2_000_000])
def test_garbage_is_invalid(authority: DataTokenAuthority, token: str) -> None:
    assert code_of(authority, token) == "dataplane.token_invalid"


def test_alg_none_and_tampering_are_refused(authority: DataTokenAuthority) -> None:
    header, payload, signature = authority.issue(GRANT).token.split(".")
    none_header = b64url(json.dumps({"alg": "none", "typ": "hansa-data+jwt", "kid": KID}).encode())
    assert code_of(authority, f"{none_header}.{payload}.") == "dataplane.token_invalid"
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["asset_id"] = "asset-2"
    forged = b64url(json.dumps(claims).encode())
    assert code_of(authority, f"{header}.{forged}.{signature}") == "dataplane.token_invalid"
