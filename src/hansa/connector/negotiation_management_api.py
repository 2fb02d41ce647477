"""Management API of contract negotiation (admin key).

POST /management/negotiations              start one as consumer: {providerAddress, providerDid?,
                                           offer? | offerId}; the offer is looked up in the
                                           provider's catalog when only its id is given
POST /management/negotiations/offers       start one as provider: {consumerAddress, consumerDid?,
                                           offer? | offerId}; the consumer's address takes its
                                           negotiation messages (a Hansa node's base URL is
                                           completed with /dsp/2025-1/callback)
GET  /management/negotiations              newest first (?state=FINALIZED)
GET  /management/negotiations/{id}         one, with its state history and agreement;
                                           ?waitFor=FINALIZED,TERMINATED answers once it
                                           is in one of those states (or after ?timeout=)
POST /management/negotiations/{id}/{action}  agree | offer | finalize | accept | request | verify |
                                             terminate (as the state machine allows)
POST /management/ping                      an echo (the benchmark's bare round trip)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.dsp_routes import view_or_wait
from hansa.connector.negotiation_checks import published_offer_json
from hansa.connector.negotiation_lookup import find_offer
from hansa.connector.negotiations import CALLBACK_PATH, NegotiationService
from hansa.errors import BadRequest, ConfigurationError
from hansa.identity.did import did_web_from_url
from hansa.web import AdminAuth, json_depth

router = APIRouter(prefix="/management", tags=["connector negotiation"], dependencies=[AdminAuth])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class StartNegotiation(_Strict):
    provider_address: str = Field(
        description="the provider's DSP endpoint, e.g. https://provider.example/dsp/2025-1 "
        "(a base URL without the DSP path is completed)"
    )
    provider_did: str | None = Field(None, description="default: did:web of the address")
    offer_id: str | None = Field(None, description="an offer @id from the provider's catalog")
    offer: dict[str, Any] | None = Field(
        None, description="the offer as the catalog shows it, with target = the dataset @id"
    )


class OfferNegotiation(_Strict):
    consumer_address: str = Field(
        description="where the consumer takes negotiation messages, e.g. "
        "https://consumer.example/dsp/2025-1/callback (a bare base URL is completed)"
    )
    consumer_did: str | None = Field(None, description="default: did:web of the address")
    offer_id: str | None = Field(None, description="one of this node's published offers")
    offer: dict[str, Any] | None = Field(
        None, description="the offer, with target = the dataset @id it is for"
    )


class Action(_Strict):
    offer: dict[str, Any] | None = None
    reason: str | None = Field(None, max_length=2000)


def _service(request: Request) -> NegotiationService:
    service: NegotiationService | None = getattr(request.app.state.node, "negotiations", None)
    if service is None:
        raise ConfigurationError(
            "this node does not negotiate contracts (enable the connector role)",
            code="negotiation.disabled",
        )
    return service


def dsp_address(address: str) -> str:
    """The DSP endpoint of a provider given by its base URL or its DSP endpoint."""
    address = address.rstrip("/")
    return address if address.endswith(DSP_BASE_PATH) else address + DSP_BASE_PATH


@router.post("/negotiations", status_code=201, summary="Negotiate a provider's offer")
def start(request: Request, body: StartNegotiation) -> dict[str, Any]:
    service = _service(request)
    address = dsp_address(body.provider_address)
    did = body.provider_did or did_web_from_url(address.removesuffix(DSP_BASE_PATH))
    offer = body.offer
    if offer is None:
        if body.offer_id is None:
            raise BadRequest(
                "name the offer: offerId (looked up in the provider's catalog) or offer",
                code="negotiation.offer_missing",
                pointer="/offerId",
            )
        node = request.app.state.node
        offer = find_offer(node.http, node.sts, address, did, body.offer_id)
    json_depth(offer, request.app.state.settings.api.max_json_depth)
    return service.start(provider_address=address, provider_did=did, offer=offer)


def consumer_address(address: str) -> str:
    """A consumer's address for negotiation messages; a bare base URL gets Hansa's callback."""
    address = address.rstrip("/")
    return address if urlsplit(address).path.strip("/") else address + CALLBACK_PATH


@router.post("/negotiations/offers", status_code=201, summary="Offer a contract to a consumer")
def offer(request: Request, body: OfferNegotiation) -> dict[str, Any]:
    service = _service(request)
    address = consumer_address(body.consumer_address)
    parts = urlsplit(address)
    did = body.consumer_did or did_web_from_url(f"{parts.scheme}://{parts.netloc}")
    terms = body.offer
    if terms is None:
        if body.offer_id is None:
            raise BadRequest(
                "name the offer: offerId (one of this node's offers) or offer",
                code="negotiation.offer_missing",
                pointer="/offerId",
            )
        terms = published_offer_json(request.app.state.node.assets, body.offer_id)
    json_depth(terms, request.app.state.settings.api.max_json_depth)
    return service.offer(consumer_address=address, consumer_did=did, offer=terms)


@router.get("/negotiations", summary="Negotiations, newest first")
def list_negotiations(
    request: Request, state: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    return _service(request).list(state)


@router.get("/negotiations/{pid}", summary="One negotiation (optionally once it reaches a state)")
def get_negotiation(
    request: Request,
    pid: str,
    wait_for: Annotated[
        str | None, Query(alias="waitFor", description="e.g. FINALIZED,TERMINATED")
    ] = None,
    timeout: Annotated[float, Query(ge=0, le=60)] = 30,
) -> dict[str, Any]:
    return view_or_wait(_service(request), pid, wait_for, timeout)


@router.post("/negotiations/{pid}/{action}", summary="Our next move on a negotiation")
def act(
    request: Request,
    pid: str,
    action: Literal["agree", "offer", "finalize", "accept", "request", "verify", "terminate"],
    body: Action | None = None,
) -> dict[str, Any]:
    body = body or Action()
    return _service(request).act(pid, action, offer=body.offer, reason=body.reason)


@router.post("/ping", summary="Echo (a bare authenticated round trip)")
def ping(body: dict[str, Any]) -> dict[str, Any]:
    return body
