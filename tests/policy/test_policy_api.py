"""``POST /policies/evaluate``, the policy dry run, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hansa.app import create_app
from hansa.node import Node
from hansa.policy.api import router
from hansa.serving import BackgroundServer
from hansa.settings import Settings

ADMIN = {"Authorization": "Bearer test-admin-key"}
POLICY = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                {
                    "leftOperand": "hansa:complianceLevel",
                    "operator": "gteq",
                    "rightOperand": "L1",
                },
                {
                    "leftOperand": "dateTime",
                    "operator": "lt",
                    "rightOperand": {"@value": "2027-01-01T00:00:00Z", "@type": "xsd:dateTime"},
                },
            ],
        }
    ],
}
CONSUMER = {"did": "did:web:consumer.example.eu", "complianceLevel": "L2"}
NOW = "2026-06-01T12:00:00Z"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    # The dry run touches no table: SQLite is enough.
    settings = Settings(
        name="policy",
        data_dir=tmp_path,
        base_url="https://node.example.eu",
        admin_api_key="test-admin-key",  # type: ignore[arg-type]
        wallet_secret="a wallet secret for tests",  # type: ignore[arg-type]
    )
    node = Node.open(settings)
    app = create_app(settings, node)
    if "/policies/evaluate" not in {getattr(r, "path", None) for r in app.routes}:
        app.include_router(router)
    server = BackgroundServer(app, port=0).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.bound_port()}") as client:
            yield client
    finally:
        server.stop()
        node.close()


def evaluate(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/policies/evaluate", json={"policy": POLICY, **body}, headers=ADMIN)


def test_allowed_with_a_reason_for_every_constraint(client: httpx.Client) -> None:
    response = evaluate(client, consumer=CONSUMER, context={"now": NOW, "purpose": "research"})
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["allowed"] is True
    (rule,) = decision["rules"]
    assert rule["status"] == "grants"
    assert [c["outcome"] for c in rule["constraints"]] == ["satisfied"] * 3
    assert decision["explanation"][0].startswith("ALLOWED")
    assert decision["policyDescription"]


def test_denied_says_which_constraint_failed(client: httpx.Client) -> None:
    wrong_purpose = evaluate(
        client, consumer=CONSUMER, context={"now": NOW, "purpose": "marketing"}
    ).json()
    assert wrong_purpose["allowed"] is False
    outcomes = {c["pointer"]: c["outcome"] for c in wrong_purpose["rules"][0]["constraints"]}
    assert outcomes["/permission/0/constraint/0"] == "violated"
    low_label = evaluate(
        client,
        consumer={**CONSUMER, "complianceLevel": "SC"},
        context={"now": NOW, "purpose": "research"},
    ).json()
    assert low_label["allowed"] is False
    too_late = evaluate(
        client, consumer=CONSUMER, context={"now": "2027-06-01T00:00:00Z", "purpose": "research"}
    ).json()
    assert too_late["allowed"] is False
    no_purpose = evaluate(client, consumer=CONSUMER, context={"now": NOW}).json()
    assert no_purpose["allowed"] is False
    assert "undetermined" in {c["outcome"] for c in no_purpose["rules"][0]["constraints"]}
    # A permission to use covers every narrower action.
    read = evaluate(
        client, action="read", consumer=CONSUMER, context={"now": NOW, "purpose": "research"}
    ).json()
    assert read["allowed"] is True


def test_bad_input_is_refused_with_codes_and_pointers(client: httpx.Client) -> None:
    malformed = client.post(
        "/policies/evaluate",
        json={"policy": {"permission": [{"action": "use", "constraint": [{"operator": "eq"}]}]}},
        headers=ADMIN,
    )
    assert malformed.status_code == 422
    problem = malformed.json()
    assert problem["code"].startswith("policy.")
    assert problem["pointer"].startswith("/permission/0/constraint/0")
    assert problem["errors"]

    level = evaluate(client, consumer={"complianceLevel": "L9"})
    assert level.status_code == 400
    assert (level.json()["code"], level.json()["pointer"]) == (
        "policy.request_invalid",
        "/consumer/complianceLevel",
    )
    naive = evaluate(client, context={"now": "2026-06-01T12:00:00"})
    assert naive.status_code == 422
    assert naive.json()["pointer"] == "/context/now"
    negative = evaluate(client, context={"now": NOW, "count": -1})
    assert (negative.json()["code"], negative.json()["pointer"]) == (
        "policy.request_invalid",
        "/context/count",
    )
    unknown = evaluate(client, consumer={"name": "x"})
    assert unknown.status_code == 422
    assert unknown.json()["pointer"] == "/consumer/name"
    action = evaluate(client, action="teleport", context={"now": NOW})
    assert action.status_code == 200
    assert action.json()["allowed"] is False
    assert action.json()["errors"][0]["code"] == "policy.unknown_action"


def test_the_dry_run_needs_the_admin_key(client: httpx.Client) -> None:
    response = client.post("/policies/evaluate", json={"policy": POLICY})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.missing_credentials"
