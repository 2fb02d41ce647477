"""Contract negotiation between the federation's provider and consumer over HTTPS with DCP."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from hansa.connector import dsp_messages as dsp
from hansa.connector.credential_service import SecureTokenService, wallet_signer
from hansa.connector.negotiation_terms import LABEL_SCOPE
from hansa.demo.federation import LocalFederation, RunningNode

MEMBERS_ONLY = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "hansa:membership", "operator": "eq", "rightOperand": "demo-eu"}
            ],
        }
    ],
}
LABEL_L3 = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "hansa:complianceLevel", "operator": "gteq", "rightOperand": "L3"}
            ],
        }
    ],
}
DSP = "/dsp/2025-1"


def publish(federation: LocalFederation, policy: dict[str, Any]) -> str:
    """The provider registers an asset, a policy and an offer; the offer's id."""
    provider = federation["provider"]
    suffix = uuid.uuid4().hex[:8]
    with provider.client(federation.ca_file) as client:
        asset = client.post(
            "/assets",
            json={
                "id": f"urn:asset:{suffix}",
                "title": "Traffic counts",
                "dataAddress": {"type": "HttpData", "baseUrl": "https://data.example.eu/t"},
            },
        )
        assert asset.status_code == 201, asset.text
        stored = client.post("/policies", json={"id": f"urn:policy:{suffix}", "policy": policy})
        assert stored.status_code == 201, stored.text
        offer = client.post(
            "/offers",
            json={
                "id": f"urn:offer:{suffix}",
                "assetId": f"urn:asset:{suffix}",
                "policyId": f"urn:policy:{suffix}",
            },
        )
        assert offer.status_code == 201, offer.text
    return f"urn:offer:{suffix}"


def hold_membership(federation: LocalFederation) -> None:
    house, consumer = federation["clearing-house"], federation["consumer"]
    membership = house.node.identity.issue_credential(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "MembershipCredential"],
            "credentialSubject": {"id": consumer.did, "memberOf": "demo-eu"},
        }
    )
    assert consumer.node.credential_service is not None
    consumer.node.credential_service.hold(membership["id"].split(",", 1)[1])


def wait_for(
    client: httpx.Client, pid: str, states: tuple[str, ...] = ("FINALIZED", "TERMINATED")
) -> dict[str, Any]:
    """Follow a negotiation until it reaches one of ``states`` (generous deadline, no timing)."""
    deadline = time.monotonic() + 60
    while True:
        view: dict[str, Any] = client.get(f"/management/negotiations/{pid}").json()
        if view["state"] in states or time.monotonic() > deadline:
            return view
        time.sleep(0.05)


def negotiate(federation: LocalFederation, offer_id: str) -> dict[str, Any]:
    provider, consumer = federation["provider"], federation["consumer"]
    with consumer.client(federation.ca_file) as client:
        started = client.post(
            "/management/negotiations",
            json={"providerAddress": provider.base_url, "offerId": offer_id},
        )
        assert started.status_code == 201, started.text
        assert started.json()["role"] == "consumer"
        return wait_for(client, started.json()["id"])


def test_negotiation_reaches_finalized_over_https_with_dcp(federation: LocalFederation) -> None:
    hold_membership(federation)
    offer_id = publish(federation, MEMBERS_ONLY)
    view = negotiate(federation, offer_id)
    assert view["state"] == "FINALIZED", view
    assert [h["state"] for h in view["history"]] == ["REQUESTED", "AGREED", "VERIFIED", "FINALIZED"]
    agreement = view["agreement"]
    provider, consumer = federation["provider"], federation["consumer"]
    assert agreement["assigner"] == provider.did
    assert agreement["assignee"] == consumer.did
    assert agreement["permission"] == [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "hansa:membership", "operator": "eq", "rightOperand": "demo-eu"}
            ],
        }
    ]
    # The provider holds the same negotiation, finalized, with the same agreement.
    with provider.client(federation.ca_file) as client:
        theirs = client.get(f"/management/negotiations/{view['providerPid']}").json()
    assert theirs["state"] == "FINALIZED"
    assert theirs["role"] == "provider"
    assert theirs["agreementId"] == view["agreementId"]
    assert theirs["counterpartyDid"] == consumer.did


def test_policy_not_satisfied_is_refused_with_the_reason(federation: LocalFederation) -> None:
    offer_id = publish(federation, LABEL_L3)
    view = negotiate(federation, offer_id)
    assert view["state"] == "TERMINATED"
    assert view["error"]["code"] == "negotiation.policy_not_satisfied"
    assert "label L3" in view["error"]["reason"]


def test_unknown_offer_is_not_in_the_catalog(federation: LocalFederation) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    with consumer.client(federation.ca_file) as client:
        response = client.post(
            "/management/negotiations",
            json={"providerAddress": provider.base_url, "offerId": "urn:offer:none"},
        )
    assert response.status_code == 404
    assert response.json()["code"] == "negotiation.offer_not_in_catalog"


# --- the provider's DSP endpoints, called directly with the consumer's tokens ---------------


def _dsp(node: RunningNode, federation: LocalFederation) -> httpx.Client:
    return node.client(federation.ca_file, admin=False)


def _token(sender: RunningNode, receiver: RunningNode) -> dict[str, str]:
    """A DCP ID token of ``sender`` (any node, signed with its wallet key) for ``receiver``."""
    sts = SecureTokenService(sender.did, wallet_signer(sender.did, sender.node.identity.wallet))
    return {"Authorization": f"Bearer {sts.id_token(receiver.did)}"}


def _catalog_offer(federation: LocalFederation, offer_id: str) -> dict[str, Any]:
    from hansa.connector.negotiation_lookup import find_offer

    consumer, provider = federation["consumer"], federation["provider"]
    assert consumer.node.sts is not None
    return find_offer(
        consumer.node.http, consumer.node.sts, provider.base_url + DSP, provider.did, offer_id
    )


def _request(
    offer: dict[str, Any], callback: str, consumer_pid: str | None = None
) -> dict[str, Any]:
    return dsp.contract_request_message(
        consumer_pid=consumer_pid or f"urn:uuid:{uuid.uuid4()}",
        offer=offer,
        callback_address=callback,
    )


@pytest.fixture(scope="module")
def open_offer(federation: LocalFederation) -> dict[str, Any]:
    offer_id = publish(
        federation,
        {
            "@context": "http://www.w3.org/ns/odrl.jsonld",
            "@type": "Set",
            "permission": [{"action": "use"}],
        },
    )
    return _catalog_offer(federation, offer_id)


def test_bad_inputs_get_specific_errors(
    federation: LocalFederation, open_offer: dict[str, Any]
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    callback = consumer.base_url + DSP + "/callback"
    url = DSP + "/negotiations/request"
    with _dsp(provider, federation) as client:
        # Schema-invalid: no offer.
        bad = client.post(
            url,
            json={
                "@context": [dsp.DSP_CONTEXT],
                "@type": "ContractRequestMessage",
                "consumerPid": "urn:x",
            },
            headers=_token(consumer, provider),
        )
        assert bad.status_code == 400
        body = bad.json()
        assert body["code"] == "dsp.invalid_message"
        assert body["@type"] == "ContractNegotiationError"

        # An offer that differs from the published one.
        changed = {**open_offer, "permission": [{"action": "distribute"}]}
        mismatch = client.post(
            url, json=_request(changed, callback), headers=_token(consumer, provider)
        )
        assert mismatch.status_code == 400
        assert mismatch.json()["code"] == "negotiation.offer_mismatch"

        # An offer the provider never published.
        unknown = {**open_offer, "@id": "urn:offer:never"}
        response = client.post(
            url, json=_request(unknown, callback), headers=_token(consumer, provider)
        )
        assert response.status_code == 400
        assert response.json()["code"] == "negotiation.offer_unknown"

        # A callback address on a private network.
        private = client.post(
            url,
            json=_request(open_offer, "https://10.1.2.3/cb"),
            headers=_token(consumer, provider),
        )
        assert private.status_code == 400
        assert private.json()["code"] == "negotiation.callback_refused"

        # A token for another audience, and a replayed token.
        other = client.post(
            url, json=_request(open_offer, callback), headers=_token(consumer, consumer)
        )
        assert other.status_code == 401
        assert other.json()["code"] == "dcp.audience_mismatch"
        headers = _token(consumer, provider)
        first = client.post(url, json=_request(open_offer, callback), headers=headers)
        assert first.status_code == 201, first.text
        again = client.post(url, json=_request(open_offer, callback), headers=headers)
        assert again.status_code == 401
        assert again.json()["code"] == "dcp.token_replayed"


def test_idempotent_out_of_order_finished_and_foreign(
    federation: LocalFederation, open_offer: dict[str, Any]
) -> None:
    provider, consumer, _house = (
        federation["provider"],
        federation["consumer"],
        federation["clearing-house"],
    )
    callback = consumer.base_url + DSP + "/callback"
    message = _request(open_offer, callback)
    service = provider.node.negotiations
    assert service is not None
    service.auto_accept = False  # the provider decides by hand: the negotiation stays REQUESTED
    try:
        _walk(federation, message)
    finally:
        service.auto_accept = True


def _walk(federation: LocalFederation, message: dict[str, Any]) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    house = federation["clearing-house"]
    with _dsp(provider, federation) as client:
        first = client.post(
            DSP + "/negotiations/request", json=message, headers=_token(consumer, provider)
        )
        assert first.status_code == 201, first.text
        pid = first.json()["providerPid"]
        # The same message again (a retry, new token): the same answer, nothing new.
        again = client.post(
            DSP + "/negotiations/request", json=message, headers=_token(consumer, provider)
        )
        assert again.status_code == 201
        assert again.json() == first.json()

        pids = {"provider_pid": pid, "consumer_pid": message["consumerPid"]}
        # Out of order: the consumer accepts only an offer, and none was made.
        accepted = client.post(
            f"{DSP}/negotiations/{pid}/events",
            json=dsp.contract_negotiation_event_message(**pids, event_type="ACCEPTED"),
            headers=_token(consumer, provider),
        )
        assert accepted.status_code == 400
        assert accepted.json()["code"] == "dsp.invalid_state_transition"
        assert accepted.json()["providerPid"] == pid

        # Someone who is not party to it: 404, as if it did not exist.
        foreign = client.get(f"{DSP}/negotiations/{pid}", headers=_token(house, provider))
        assert foreign.status_code == 404
        assert foreign.json()["code"] == "negotiation.not_found"
        mine = client.get(f"{DSP}/negotiations/{pid}", headers=_token(consumer, provider))
        assert mine.status_code == 200
        assert mine.json()["@type"] == "ContractNegotiation"

        # Terminate it, then any message for the finished process is refused.
        ended = client.post(
            f"{DSP}/negotiations/{pid}/termination",
            json=dsp.contract_negotiation_termination_message(**pids, reason="changed my mind"),
            headers=_token(consumer, provider),
        )
        assert ended.status_code == 200
        assert ended.json()["state"] == "TERMINATED"
        # The same termination again (a retry): the same answer, not a refusal.
        retried = client.post(
            f"{DSP}/negotiations/{pid}/termination",
            json=dsp.contract_negotiation_termination_message(**pids, reason="changed my mind"),
            headers=_token(consumer, provider),
        )
        assert retried.status_code == 200
        assert retried.json() == ended.json()
        late = client.post(
            f"{DSP}/negotiations/{pid}/agreement/verification",
            json=dsp.contract_agreement_verification_message(**pids),
            headers=_token(consumer, provider),
        )
        assert late.status_code == 400
        assert late.json()["code"] == "dsp.invalid_state_transition"


def test_the_provider_answers_a_refused_policy_with_its_reasons(
    federation: LocalFederation,
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    offer = _catalog_offer(federation, publish(federation, LABEL_L3))
    assert consumer.node.sts is not None
    token = consumer.node.sts.id_token(provider.did, scopes=[LABEL_SCOPE])
    with _dsp(provider, federation) as client:
        sent = _request(offer, consumer.base_url + DSP + "/callback")
        response = client.post(
            DSP + "/negotiations/request", json=sent, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 403
    body = response.json()
    # The same request again (its answer was lost, say): the same refusal, the same process.
    token = consumer.node.sts.id_token(provider.did, scopes=[LABEL_SCOPE])
    with _dsp(provider, federation) as client:
        again = client.post(
            DSP + "/negotiations/request",
            json=sent,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert again.status_code == 403
    assert again.json()["providerPid"] == body["providerPid"]
    assert body["@type"] == "ContractNegotiationError"
    assert body["code"] == "negotiation.policy_not_satisfied"
    assert body["providerPid"].startswith("urn:uuid:")
    assert any("label L3" in line for line in body["reason"])
    # The refusal is on record, as a terminated negotiation.
    with provider.client(federation.ca_file) as admin:
        view = admin.get(f"/management/negotiations/{body['providerPid']}").json()
    assert view["state"] == "TERMINATED"
    assert view["error"]["code"] == "negotiation.policy_not_satisfied"


def test_a_counter_offer_with_the_requested_terms_is_accepted_by_the_consumer(
    federation: LocalFederation, open_offer: dict[str, Any]
) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    service = provider.node.negotiations
    assert service is not None
    service.auto_accept = False  # the provider's operator decides each move
    try:
        with consumer.client(federation.ca_file) as client:
            started = client.post(
                "/management/negotiations",
                json={
                    "providerAddress": provider.base_url,
                    "providerDid": provider.did,
                    "offer": open_offer,
                },
            ).json()
            requested = wait_for(client, started["id"], ("REQUESTED",))
            _until_provider_pid(client, started["id"])
            provider_pid = client.get(f"/management/negotiations/{started['id']}").json()[
                "providerPid"
            ]
            with provider.client(federation.ca_file) as operator:
                offered = operator.post(
                    f"/management/negotiations/{provider_pid}/offer", json={"offer": open_offer}
                )
                assert offered.status_code == 200, offered.text
                # The consumer accepts an offer with the terms it asked for by itself.
                accepted = wait_for(client, started["id"], ("ACCEPTED",))
                assert accepted["state"] == "ACCEPTED"
                wrong = operator.post(f"/management/negotiations/{provider_pid}/finalize")
                assert wrong.status_code == 400
                assert wrong.json()["code"] == "dsp.invalid_state_transition"
                assert operator.post(f"/management/negotiations/{provider_pid}/agree").is_success
                wait_for(client, started["id"], ("VERIFIED", "FINALIZED"))
                _until_state(operator, provider_pid, "VERIFIED")
                assert operator.post(f"/management/negotiations/{provider_pid}/finalize").is_success
            final = wait_for(client, started["id"])
    finally:
        service.auto_accept = True
    assert requested["state"] == "REQUESTED"
    assert final["state"] == "FINALIZED"
    assert [h["state"] for h in final["history"]] == [
        "REQUESTED",
        "OFFERED",
        "ACCEPTED",
        "AGREED",
        "VERIFIED",
        "FINALIZED",
    ]


def _until_provider_pid(client: httpx.Client, pid: str) -> None:
    deadline = time.monotonic() + 30
    while not client.get(f"/management/negotiations/{pid}").json()["providerPid"]:
        assert time.monotonic() < deadline, "the provider's answer was not recorded"
        time.sleep(0.02)


def _until_state(client: httpx.Client, pid: str, state: str) -> None:
    view = client.get(f"/management/negotiations/{pid}", params={"waitFor": state}).json()
    assert view["state"] == state
