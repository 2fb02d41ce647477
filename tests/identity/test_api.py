"""The identity API of one node (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from hansa.app import create_app
from hansa.identity.keys import b64url_decode
from hansa.identity.pki import certificates_to_pem, create_root_ca, issue_key_certificate
from hansa.identity.status_list import decode_list, get_bit
from hansa.node import Node
from hansa.serving import BackgroundServer
from hansa.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-key"}


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    settings = Settings(
        name="test",
        data_dir=tmp_path,
        database_url=database_url,
        base_url="https://node.example.eu",
        admin_api_key="test-admin-key",  # type: ignore[arg-type]
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
    )
    node = Node.open(settings)
    node.identity.ensure_signing_key()
    yield node
    node.close()


@pytest.fixture
def client(node: Node) -> Iterator[httpx.Client]:
    """Real HTTP on loopback to the node's app (port chosen by the OS)."""
    server = BackgroundServer(create_app(node.settings, node), port=0).start()
    port = server.bound_port()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    server.stop()


def test_did_document_names_the_node_and_its_keys(client: httpx.Client, node: Node) -> None:
    response = client.get("/.well-known/did.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/did+json")
    document = response.json()
    assert document["id"] == "did:web:node.example.eu"
    assert len(document["verificationMethod"]) == 1
    assert "d" not in document["verificationMethod"][0]["publicKeyJwk"]


def test_key_lifecycle_over_the_api(client: httpx.Client) -> None:
    created = client.post("/keys", json={"type": "P-256", "id": "p256"}, headers=ADMIN)
    assert created.status_code == 201
    assert created.json()["publicKeyJwk"]["crv"] == "P-256"
    listed = client.get("/keys", headers=ADMIN).json()
    assert {k["id"] for k in listed} >= {"p256"}
    assert all("d" not in k["publicKeyJwk"] for k in listed)
    rotated = client.post("/keys/p256/rotate", headers=ADMIN)
    assert rotated.status_code == 201
    document = client.get("/.well-known/did.json").json()
    old = "did:web:node.example.eu#p256"
    assert old in document["assertionMethod"]
    assert old not in document["authentication"]
    assert client.post("/keys/p256/rotate", headers=ADMIN).json()["code"] == "key.retired"
    assert client.get("/keys/missing", headers=ADMIN).status_code == 404
    bad = client.post("/keys", json={"type": "RSA"}, headers=ADMIN)
    assert bad.status_code == 422
    assert bad.json()["pointer"] == "/type"


def test_issue_then_status_list_is_served_and_updated(client: httpx.Client) -> None:
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:subject"},
    }
    issued = client.post("/credentials/issue", json={"credential": credential}, headers=ADMIN)
    assert issued.status_code == 201
    envelope = issued.json()["verifiableCredential"]
    assert envelope["type"] == "EnvelopedVerifiableCredential"
    assert envelope["id"].startswith("data:application/vc+jwt,")

    credential_out = json.loads(b64url_decode(envelope["id"].split(",", 1)[1].split(".")[1]))
    revocation = next(
        e for e in credential_out["credentialStatus"] if e["statusPurpose"] == "revocation"
    )
    index = int(revocation["statusListIndex"])
    path = urlsplit(revocation["statusListCredential"]).path

    def revoked_bit() -> bool:
        served = client.get(path)
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("application/vc+jwt")
        status_list = json.loads(b64url_decode(served.text.split(".")[1]))
        return get_bit(decode_list(status_list["credentialSubject"]["encodedList"]), index)

    assert not revoked_bit()
    revoked = client.post(
        "/credentials/status",
        json={"credentialId": credential_out["id"], "status": "revoked"},
        headers=ADMIN,
    )
    assert revoked.status_code == 200
    assert revoked_bit()

    unknown = client.post(
        "/credentials/status",
        json={"credentialId": "urn:uuid:not-issued-here", "status": "revoked"},
        headers=ADMIN,
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "status.unknown_credential"
    assert client.get("/status/no-such-list").status_code == 404


def test_trust_anchors_and_certificate_binding(client: httpx.Client, node: Node) -> None:
    ca_key, ca_cert = create_root_ca("Test root")
    pem = certificates_to_pem([ca_cert]).decode()
    key = node.identity.ensure_signing_key()
    chain = certificates_to_pem(
        [issue_key_certificate(ca_key, ca_cert, node.identity.did, key.public_key), ca_cert]
    ).decode()

    refused = client.put(f"/keys/{key.id}/certificate", json={"pem": chain}, headers=ADMIN)
    assert refused.status_code in (403, 422)
    assert refused.json()["code"] == "trust.untrusted_root"

    added = client.post("/trust-anchors/root-cas", json={"pem": pem, "label": "t"}, headers=ADMIN)
    assert added.status_code == 201
    attached = client.put(f"/keys/{key.id}/certificate", json={"pem": chain}, headers=ADMIN)
    assert attached.status_code == 200, attached.text
    x5u = client.get("/.well-known/did.json").json()["verificationMethod"][0]["publicKeyJwk"]
    assert x5u["x5u"].endswith(f"/.well-known/x509/{key.id}.pem")
    assert client.get(f"/.well-known/x509/{key.id}.pem").text == chain

    issuer = client.post(
        "/trust-anchors/issuers", json={"did": "did:web:issuer.example"}, headers=ADMIN
    )
    assert issuer.status_code == 201
    anchors = client.get("/trust-anchors", headers=ADMIN).json()
    assert {a["kind"] for a in anchors} == {"root_ca", "issuer"}
    removed = client.delete("/trust-anchors/did:web:issuer.example", headers=ADMIN)
    assert removed.status_code == 204
    assert all(a["kind"] != "issuer" for a in client.get("/trust-anchors", headers=ADMIN).json())
    invalid = client.post("/trust-anchors/root-cas", json={"pem": "not a pem"}, headers=ADMIN)
    assert invalid.status_code in (400, 422)
    assert invalid.json()["code"] == "trust.invalid_certificate"


def test_verify_endpoints_answer_problem_json(client: httpx.Client) -> None:
    response = client.post("/credentials/verify", json={"verifiableCredential": "a.b.c"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"].startswith("jose.")
    assert problem["type"].endswith(problem["code"])
    assert problem["instance"] == "/credentials/verify"
    unsigned = client.post(
        "/credentials/verify",
        json={"verifiableCredential": {"@context": ["https://www.w3.org/ns/credentials/v2"]}},
    )
    assert unsigned.status_code == 400
    assert unsigned.json()["code"] == "vc.proof_missing"
    nothing = client.post("/presentations/verify", json={"verifiablePresentation": "x"})
    assert nothing.status_code == 400
    assert client.get("/no/such/route").json()["code"] == "not_found"
