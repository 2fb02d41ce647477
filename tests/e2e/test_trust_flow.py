"""The trust layer across real nodes over HTTPS: issue, present, verify, revoke."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hansa.demo.federation import LocalFederation, RunningNode
from hansa.identity.models import IssuedCredential


def credential_for(subject: RunningNode, **extra: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": subject.did, "name": subject.spec.label},
        **extra,
    }


def issue(
    federation: LocalFederation, issuer: str, credential: dict[str, Any], **options: Any
) -> Any:
    with federation[issuer].client(federation.ca_file) as client:
        response = client.post(
            "/credentials/issue", json={"credential": credential, "options": options}
        )
    assert response.status_code == 201, response.text
    return response.json()["verifiableCredential"]


def verify(federation: LocalFederation, verifier: str, vc: Any, **options: Any) -> httpx.Response:
    with federation[verifier].client(federation.ca_file, admin=False) as client:
        return client.post(
            "/credentials/verify", json={"verifiableCredential": vc, "options": options}
        )


def set_status(federation: LocalFederation, credential_id: str, status: str) -> None:
    with federation["provider"].client(federation.ca_file) as client:
        response = client.post(
            "/credentials/status", json={"credentialId": credential_id, "status": status}
        )
    assert response.status_code == 200, response.text


def test_did_documents_are_served_with_certified_keys(federation: LocalFederation) -> None:
    for name in ("clearing-house", "provider", "consumer"):
        node = federation[name]
        with node.client(federation.ca_file, admin=False) as client:
            response = client.get("/.well-known/did.json")
            assert response.status_code == 200
            document = response.json()
            assert document["id"] == node.did
            x5u = document["verificationMethod"][0]["publicKeyJwk"]["x5u"]
            assert x5u.startswith(node.base_url)
            chain = client.get(x5u)
            assert chain.status_code == 200
            assert chain.text.count("BEGIN CERTIFICATE") == 2


@pytest.mark.parametrize("securing", ["vc-jose", "eddsa-rdfc-2022"])
def test_credential_verifies_across_nodes_until_revoked(
    federation: LocalFederation, securing: str
) -> None:
    consumer = federation["consumer"]
    vc = issue(federation, "provider", credential_for(consumer), securingMechanism=securing)
    result = verify(federation, "clearing-house", vc, x509=True)
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["verified"] is True
    assert {"proof", "status", "x509"} <= set(body["checks"])
    assert body["issuer"] == federation["provider"].did

    set_status(federation, body["credential"]["id"], "revoked")
    refused = verify(federation, "clearing-house", vc)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "vc.revoked"


def test_suspension_can_be_lifted(federation: LocalFederation) -> None:
    vc = issue(federation, "provider", credential_for(federation["consumer"]))
    credential_id = verify(federation, "consumer", vc).json()["credential"]["id"]
    set_status(federation, credential_id, "suspended")
    assert verify(federation, "consumer", vc).json()["code"] == "vc.suspended"
    set_status(federation, credential_id, "active")
    assert verify(federation, "consumer", vc).status_code == 200


def test_presentation_verified_by_its_audience_only(federation: LocalFederation) -> None:
    house, consumer = federation["clearing-house"], federation["consumer"]
    vc = issue(federation, "provider", credential_for(consumer))
    token = vc["id"].split(",", 1)[1]
    nonce = uuid.uuid4().hex
    vp = consumer.node.identity.issue_presentation([token], audience=house.did, nonce=nonce)
    with house.client(federation.ca_file, admin=False) as client:
        ok = client.post(
            "/presentations/verify",
            json={
                "verifiablePresentation": vp,
                "options": {"challenge": nonce, "domain": house.did, "x509": True},
            },
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["holder"] == consumer.did
        wrong = client.post(
            "/presentations/verify",
            json={
                "verifiablePresentation": vp,
                "options": {"challenge": nonce, "domain": federation["provider"].did},
            },
        )
        assert wrong.status_code in (401, 403)
        assert wrong.json()["code"] == "vp.audience_mismatch"


def test_tampered_credential_is_refused(federation: LocalFederation) -> None:
    vc = issue(federation, "provider", credential_for(federation["consumer"]))
    header, payload, signature = vc["id"].split(",", 1)[1].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    response = verify(federation, "clearing-house", ".".join([header, payload, flipped]))
    assert response.status_code in (400, 401, 403)
    assert response.json()["code"] == "vc.signature_invalid"


def test_did_resolver_endpoint(federation: LocalFederation) -> None:
    house, provider = federation["clearing-house"], federation["provider"]
    with house.client(federation.ca_file, admin=False) as client:
        found = client.get(f"/1.0/identifiers/{provider.did}")
        assert found.status_code == 200
        assert found.json()["didDocument"]["id"] == provider.did
        forbidden = client.get("/1.0/identifiers/did:web:169.254.169.254")
        assert forbidden.status_code >= 400
        assert forbidden.json()["didResolutionMetadata"]["error"]


def test_management_endpoints_need_the_admin_key(federation: LocalFederation) -> None:
    provider = federation["provider"]
    credential = credential_for(federation["consumer"])
    with provider.client(federation.ca_file, admin=False) as client:
        missing = client.post("/credentials/issue", json={"credential": credential})
        assert missing.status_code == 401
        assert missing.json()["code"] == "auth.missing_credentials"
        wrong = client.post(
            "/credentials/issue",
            json={"credential": credential},
            headers={"Authorization": "Bearer not-the-key"},
        )
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "auth.invalid_credentials"
        assert client.get("/keys").status_code == 401


def _issued_count(node: RunningNode) -> int:
    with node.node.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(IssuedCredential)) or 0)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "request.malformed_json"),
        (b'{"credential": "text"}', 422, "request.validation_failed"),
        (b'{"credential": {}, "surprise": 1}', 422, "request.validation_failed"),
    ],
)
def test_malformed_issue_requests_store_nothing(
    federation: LocalFederation, body: bytes, status: int, code: str
) -> None:
    provider = federation["provider"]
    before = _issued_count(provider)
    with provider.client(federation.ca_file) as client:
        response = client.post(
            "/credentials/issue", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == status
    assert response.json()["code"] == code
    assert _issued_count(provider) == before


@pytest.mark.parametrize(
    ("credential", "options", "code"),
    [
        (
            {
                "@context": ["https://www.w3.org/ns/credentials/v2", "https://evil.example/ctx"],
                "type": ["VerifiableCredential"],
                "credentialSubject": {"id": "did:example:1"},
            },
            {"securingMechanism": "eddsa-rdfc-2022"},
            "jsonld.unknown_context",
        ),
        (
            {
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiableCredential"],
                "credentialSubject": {"id": "did:example:1"},
            },
            {},
            "vc.invalid_credential",
        ),
        (
            {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential"],
                "issuer": "did:web:someone-else.example",
                "credentialSubject": {"id": "did:example:1"},
            },
            {},
            "vc.issuer_not_self",
        ),
    ],
)
def test_bad_credentials_are_refused_and_nothing_is_stored(
    federation: LocalFederation, credential: dict[str, Any], options: dict[str, Any], code: str
) -> None:
    provider = federation["provider"]
    before = _issued_count(provider)
    with provider.client(federation.ca_file) as client:
        response = client.post(
            "/credentials/issue", json={"credential": credential, "options": options}
        )
    assert response.status_code in (400, 403, 422)
    assert response.json()["code"] == code
    assert _issued_count(provider) == before


def test_oversized_and_deep_bodies_are_refused(federation: LocalFederation) -> None:
    house = federation["clearing-house"]
    with house.client(federation.ca_file, admin=False) as client:
        big = client.post(
            "/credentials/verify",
            content=b'{"verifiableCredential": "' + b"a" * 2_000_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413
        assert big.json()["code"] == "request.too_large"
        deep: Any = "x"
        for _ in range(200):
            deep = {"a": deep}
        nested = client.post(
            "/credentials/verify", json={"verifiableCredential": {"@context": deep}}
        )
        assert nested.status_code == 400
        assert nested.json()["code"] == "request.too_deep"


def test_clearing_house_notary_issues_a_verifiable_registration_credential(
    federation: LocalFederation,
) -> None:
    house, provider = federation["clearing-house"], federation["provider"]
    with house.client(federation.ca_file, admin=False) as client:
        response = client.get(
            "/v2/registration-numbers/vat-id/DE136695976", params={"subjectId": provider.did}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/vc+jwt")
        token = response.text
        refused = client.get(
            "/v2/registration-numbers/vat-id/DE136695977", params={"subjectId": provider.did}
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "notary.invalid_number"
    checked = verify(federation, "provider", token, x509=True)
    assert checked.status_code == 200, checked.text
    assert checked.json()["issuer"] == house.did
    assert checked.json()["credential"]["credentialSubject"]["id"] == provider.did
