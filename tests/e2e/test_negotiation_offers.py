"""A negotiation the provider starts with an offer (DSP 2025-1 ``POST /negotiations/offers``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from test_negotiation_flow import (
    DSP,
    LABEL_L3,
    MEMBERS_ONLY,
    _dsp,
    _token,
    hold_membership,
    publish,
    wait_for,
)

from hansa.connector import dsp_messages as dsp
from hansa.demo.federation import LocalFederation

OPEN = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [{"action": "use"}],
}


def offer_to_consumer(federation: LocalFederation, offer_id: str) -> dict[str, Any]:
    """The provider offers ``offer_id`` to the consumer; the provider's view."""
    provider, consumer = federation["provider"], federation["consumer"]
    with provider.client(federation.ca_file) as client:
        started = client.post(
            "/management/negotiations/offers",
            json={"consumerAddress": consumer.base_url, "offerId": offer_id},
        )
    assert started.status_code == 201, started.text
    view: dict[str, Any] = started.json()
    return view


def consumer_side(federation: LocalFederation, provider_pid: str) -> dict[str, Any]:
    """The consumer's negotiation for the provider's pid, once the offer was delivered."""
    deadline = time.monotonic() + 60
    with federation["provider"].client(federation.ca_file) as client:
        while True:
            theirs = client.get(f"/management/negotiations/{provider_pid}").json()
            if theirs["consumerPid"] or theirs["state"] != "OFFERED":
                break
            assert time.monotonic() < deadline, theirs
            time.sleep(0.05)
    assert theirs["consumerPid"], theirs
    with federation["consumer"].client(federation.ca_file) as client:
        view: dict[str, Any] = client.get(
            f"/management/negotiations/{theirs['consumerPid']}"
        ).json()
    return view


def provider_view(federation: LocalFederation, pid: str, states: tuple[str, ...]) -> Any:
    with federation["provider"].client(federation.ca_file) as client:
        return wait_for(client, pid, states)


def accept(federation: LocalFederation, consumer_pid: str) -> dict[str, Any]:
    with federation["consumer"].client(federation.ca_file) as client:
        accepted = client.post(f"/management/negotiations/{consumer_pid}/accept")
        assert accepted.status_code == 200, accepted.text
        return wait_for(client, consumer_pid)


def test_the_provider_offers_and_the_consumer_accepts_to_finalized(
    federation: LocalFederation,
) -> None:
    hold_membership(federation)
    offer_id = publish(federation, MEMBERS_ONLY)
    started = offer_to_consumer(federation, offer_id)
    assert started["role"] == "provider"
    assert started["state"] == "OFFERED"
    # Nothing was asked for: the consumer's operator decides; it waits in OFFERED.
    mine = consumer_side(federation, started["id"])
    assert mine["state"] == "OFFERED"
    assert mine["role"] == "consumer"
    assert mine["counterpartyDid"] == federation["provider"].did
    assert mine["offerId"] == offer_id
    # The provider learnt the consumer's pid from the 201 answer.
    assert provider_view(federation, started["id"], ("OFFERED",))["consumerPid"] == mine["id"]

    view = accept(federation, mine["id"])
    assert view["state"] == "FINALIZED", view
    assert [h["state"] for h in view["history"]] == [
        "OFFERED",
        "ACCEPTED",
        "AGREED",
        "VERIFIED",
        "FINALIZED",
    ]
    assert view["agreement"]["assignee"] == federation["consumer"].did
    assert view["agreement"]["assigner"] == federation["provider"].did
    theirs = provider_view(federation, started["id"], ("FINALIZED", "TERMINATED"))
    assert theirs["state"] == "FINALIZED"
    assert theirs["agreementId"] == view["agreementId"]


def test_an_accepted_offer_whose_policy_the_consumer_fails_is_refused(
    federation: LocalFederation,
) -> None:
    offer_id = publish(federation, LABEL_L3)
    started = offer_to_consumer(federation, offer_id)
    mine = consumer_side(federation, started["id"])
    view = accept(federation, mine["id"])
    assert view["state"] == "TERMINATED"
    assert view["error"]["code"] == "negotiation.policy_not_satisfied"
    theirs = provider_view(federation, started["id"], ("TERMINATED",))
    assert theirs["state"] == "TERMINATED"
    assert theirs["error"]["code"] == "negotiation.policy_not_satisfied"


def test_the_consumer_may_decline_an_offer(federation: LocalFederation) -> None:
    started = offer_to_consumer(federation, publish(federation, OPEN))
    mine = consumer_side(federation, started["id"])
    with federation["consumer"].client(federation.ca_file) as client:
        ended = client.post(
            f"/management/negotiations/{mine['id']}/terminate", json={"reason": "not now"}
        )
    assert ended.status_code == 200
    assert ended.json()["state"] == "TERMINATED"
    theirs = provider_view(federation, started["id"], ("TERMINATED",))
    assert theirs["error"]["code"] == "negotiation.terminated"


# --- the consumer's endpoint, called directly with the provider's tokens --------------------


def _initial(offer: dict[str, Any], provider_pid: str | None = None) -> dict[str, Any]:
    return dsp.contract_offer_message(
        provider_pid=provider_pid or f"urn:uuid:{uuid.uuid4()}",
        offer=offer,
        callback_address="https://localhost:1/dsp/2025-1",
    )


def _post(federation: LocalFederation, body: Any, sender: str = "provider") -> httpx.Response:
    consumer = federation["consumer"]
    with _dsp(consumer, federation) as client:
        return client.post(
            DSP + "/callback/negotiations/offers",
            json=body,
            headers=_token(federation[sender], consumer),
        )


OFFER = {"@id": "urn:offer:x", "@type": "Offer", "target": "urn:asset:x"}
OFFER["permission"] = [{"action": "use"}]


def test_an_offer_sent_twice_is_one_negotiation(federation: LocalFederation) -> None:
    message = _initial(OFFER)
    first = _post(federation, message)
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "OFFERED"
    assert first.json()["providerPid"] == message["providerPid"]
    again = _post(federation, message)
    assert again.status_code == 201
    assert again.json() == first.json()
    # The same providerPid with other terms is another negotiation under a taken pid.
    other = _initial({**OFFER, "@id": "urn:offer:y"}, message["providerPid"])
    taken = _post(federation, other)
    assert taken.status_code == 409
    assert taken.json()["code"] == "negotiation.provider_pid_taken"


def test_bad_initial_offers_get_specific_errors(federation: LocalFederation) -> None:
    # A counter-offer (it names a consumerPid) sent to the endpoint that starts one.
    counter = dsp.contract_offer_message(
        provider_pid="urn:uuid:theirs", consumer_pid="urn:uuid:mine", offer=OFFER
    )
    response = _post(federation, counter)
    assert response.status_code == 400
    assert response.json()["code"] == "negotiation.unexpected_consumer_pid"

    no_target = _initial({k: v for k, v in OFFER.items() if k != "target"})
    response = _post(federation, no_target)
    assert response.status_code == 400
    assert response.json()["code"] == "dsp.invalid_message"  # the schema wants the target

    private = {**_initial(OFFER), "callbackAddress": "https://10.1.2.3/dsp"}
    response = _post(federation, private)
    assert response.status_code == 400
    assert response.json()["code"] == "negotiation.callback_refused"

    no_callback = {k: v for k, v in _initial(OFFER).items() if k != "callbackAddress"}
    response = _post(federation, no_callback)
    assert response.status_code == 400
    # The schema wants a callbackAddress or a consumerPid.
    assert response.json()["code"] == "dsp.invalid_message"
    assert response.json()["@type"] == "ContractNegotiationError"

    consumer = federation["consumer"]
    with _dsp(consumer, federation) as client:
        anonymous = client.post(DSP + "/callback/negotiations/offers", json=_initial(OFFER))
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "dcp.token_missing"


def test_the_management_api_refuses_offers_it_cannot_make(federation: LocalFederation) -> None:
    consumer = federation["consumer"]
    with federation["provider"].client(federation.ca_file) as client:
        unknown = client.post(
            "/management/negotiations/offers",
            json={"consumerAddress": consumer.base_url, "offerId": "urn:offer:none"},
        )
        assert unknown.status_code == 400
        assert unknown.json()["code"] == "negotiation.offer_unknown"
        foreign = client.post(
            "/management/negotiations/offers",
            json={"consumerAddress": consumer.base_url, "offer": OFFER},
        )
        assert foreign.status_code == 400
        assert foreign.json()["code"] == "negotiation.offer_unknown"
        nothing = client.post(
            "/management/negotiations/offers", json={"consumerAddress": consumer.base_url}
        )
        assert nothing.status_code == 400
        assert nothing.json()["code"] == "negotiation.offer_missing"
        incomplete = client.post(
            "/management/negotiations/offers",
            json={"consumerAddress": consumer.base_url, "offer": {"@id": "urn:offer:x"}},
        )
        assert incomplete.status_code == 400
        assert incomplete.json()["code"] == "negotiation.offer_incomplete"
