"""The notary's HTTP API on a real node (its DID and wallet key), with a local VIES and GLEIF."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fakes import FakeServer, GleifRegistry, ViesRegistry, lei_record, serve, unused_port_url
from fastapi import FastAPI

from hansa.compliance import Notary, NotarySources
from hansa.compliance.notary_api import router
from hansa.identity.vc_jose import verify_vc_jwt
from hansa.node import Node
from hansa.serving import BackgroundServer
from hansa.settings import HttpSettings, Settings
from hansa.web import install_error_handlers

LEI = "529900T8BM49AURSDO55"
SUBJECT = "did:web:participant.example.eu"


@pytest.fixture
def registries() -> Iterator[tuple[FakeServer, FakeServer]]:
    vies = ViesRegistry(known={"DE136695976": ("Muster GmbH", "Berlin")})
    gleif = GleifRegistry({LEI: lei_record(LEI, name="Muster AG", country="DE", region="DE-BY")})
    with serve(vies.handle) as vies_server, serve(gleif.handle) as gleif_server:
        yield vies_server, gleif_server


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    settings = Settings(
        name="clearing-house",
        data_dir=tmp_path,
        base_url="https://notary.example.eu",
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
        http=HttpSettings(allow_loopback=True, allow_http_on_loopback=True, timeout_seconds=5),
    )
    node = Node.open(settings)
    node.identity.ensure_signing_key()
    yield node
    node.close()


@contextmanager
def notary_api(node: Node, sources: NotarySources | None) -> Iterator[httpx.Client]:
    """The notary router on a small app of ``node``, served over real HTTP on loopback."""
    if sources is not None:
        # What the integrator adds to Node.open: the notary on the node's guarded client.
        node.notary = Notary(node.http, sources)  # type: ignore[attr-defined]
    app = FastAPI()
    install_error_handlers(app)
    app.state.node = node
    app.include_router(router)
    with BackgroundServer(app, port=0) as server:
        base_url = f"http://127.0.0.1:{server.bound_port()}"
        with httpx.Client(base_url=base_url, timeout=10) as client:
            yield client


@pytest.fixture
def client(node: Node, registries: tuple[FakeServer, FakeServer]) -> Iterator[httpx.Client]:
    vies, gleif = registries
    sources = NotarySources(vies_url=vies.base_url, gleif_url=gleif.base_url)
    with notary_api(node, sources) as client:
        yield client


def test_vat_id_credential_is_a_vc_jwt_signed_by_the_node(client: httpx.Client, node: Node) -> None:
    response = client.get(
        "/v2/registration-numbers/vat-id/DE136695976",
        params={"subjectId": SUBJECT, "vcId": "https://notary.example.eu/vc/1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vc+jwt"
    verified = verify_vc_jwt(response.text, node.identity.resolver)
    assert verified.issuer == node.identity.did == "did:web:notary.example.eu"
    credential = verified.credential
    assert credential["id"] == "https://notary.example.eu/vc/1"
    assert credential["credentialSubject"]["gx:vatID"] == "DE136695976"
    assert [e["description"] for e in credential["evidence"]][-1] == "confirmed by VIES"


def test_lei_code_credential_with_declared_country(client: httpx.Client, node: Node) -> None:
    response = client.get(
        f"/v2/registration-numbers/lei-code/{LEI}",
        params={"subjectId": SUBJECT, "countryCode": "DE"},
    )
    assert response.status_code == 200, response.text
    subject = verify_vc_jwt(response.text, node.identity.resolver).credential["credentialSubject"]
    assert subject["gx:subdivisionCountryCode"] == "DE-BY"


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("vat-id/DE136695977", {"subjectId": SUBJECT}, 422, "notary.invalid_number"),
        ("vat-id/FR40303265045", {"subjectId": SUBJECT}, 422, "notary.number_not_registered"),
        (
            "vat-id/DE136695976",
            {"subjectId": SUBJECT, "countryCode": "FR"},
            422,
            "notary.country_mismatch",
        ),
        (
            f"lei-code/{LEI}",
            {"subjectId": SUBJECT, "countryCode": "AT"},
            422,
            "notary.country_mismatch",
        ),
        ("lei-code/529900T8BM49AURSDO56", {"subjectId": SUBJECT}, 422, "notary.invalid_number"),
        ("duns/123456789", {"subjectId": SUBJECT}, 400, "notary.unsupported_type"),
        ("vat-id/DE136695976", {"subjectId": "participant"}, 400, "notary.invalid_subject"),
        ("vat-id/DE136695976", {}, 422, "request.validation_failed"),
    ],
)
def test_each_refusal_is_a_problem_with_its_code(
    client: httpx.Client, path: str, params: dict[str, str], status: int, code: str
) -> None:
    response = client.get(f"/v2/registration-numbers/{path}", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_unreachable_vies_is_503(node: Node) -> None:
    with notary_api(node, NotarySources(vies_url=unused_port_url())) as client:
        response = client.get(
            "/v2/registration-numbers/vat-id/DE136695976", params={"subjectId": SUBJECT}
        )
    assert response.status_code == 503
    assert response.json()["code"] == "notary.source_unreachable"


def test_tax_ids_with_slashes_fit_in_the_path(node: Node) -> None:
    with notary_api(node, NotarySources()) as client:
        response = client.get(
            "/v2/registration-numbers/tax-id/12/345/67890",
            params={"subjectId": SUBJECT, "countryCode": "DE"},
        )
    assert response.status_code == 200, response.text
    subject = verify_vc_jwt(response.text, node.identity.resolver).credential["credentialSubject"]
    assert subject["schema:taxID"] == "12/345/67890"


def test_a_node_without_the_notary_role(node: Node) -> None:
    with notary_api(node, None) as client:
        response = client.get(
            "/v2/registration-numbers/vat-id/DE136695976", params={"subjectId": SUBJECT}
        )
    assert response.status_code == 500
    assert response.json()["code"] == "notary.not_configured"
