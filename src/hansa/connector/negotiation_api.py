"""DSP 2025-1 contract negotiation endpoints (HTTPS binding), provider and consumer callbacks.

Provider, under ``{base}/dsp/2025-1``::

    POST /negotiations/request                         ContractRequestMessage -> 201
    GET  /negotiations/{providerPid}                   -> ContractNegotiation
    POST /negotiations/{providerPid}/request           ContractRequestMessage (counter-offer)
    POST /negotiations/{providerPid}/events            ContractNegotiationEventMessage (ACCEPTED)
    POST /negotiations/{providerPid}/agreement/verification
    POST /negotiations/{providerPid}/termination

Consumer, under its callback address ``{base}/dsp/2025-1/callback``::

    POST /negotiations/offers                          ContractOfferMessage (initial) -> 201
    GET  /negotiations/{consumerPid}
    POST /negotiations/{consumerPid}/offers | /agreement | /events | /termination

Every request needs a DCP ID token (``node.dsp_auth``). Errors are
``ContractNegotiationError`` bodies that are also RFC 9457 problems: 400 for a schema-invalid
message or a transition the state machine refuses, 401 for a bad token, 403 when the offer's
policy does not allow the caller (with the reasons), 404 for a negotiation that does not
exist or is not the caller's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse

from hansa.connector import dsp_messages as dsp
from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.catalog_api import require_dsp_caller
from hansa.connector.dcp import IdTokenClaims
from hansa.connector.dsp_routes import DspErrorRoute
from hansa.connector.negotiation_states import Party
from hansa.connector.negotiations import CALLBACK_PATH, NegotiationService
from hansa.errors import ConfigurationError, HansaError
from hansa.web import json_depth


def negotiation_error_body(
    error: HansaError, *, provider_pid: str, consumer_pid: str, instance: str
) -> dict[str, Any]:
    """A ``ContractNegotiationError`` that is also an RFC 9457 problem."""
    problem = {k: v for k, v in error.to_problem(instance).items() if k != "code"}
    explanation = error.extra.get("explanation")
    reason = explanation if isinstance(explanation, list) and explanation else error.detail
    body = dsp.contract_negotiation_error(
        provider_pid=provider_pid, consumer_pid=consumer_pid, code=error.code, reason=reason
    )
    return {**problem, **body}


class NegotiationErrorRoute(DspErrorRoute):
    """A route whose errors answer as DSP ContractNegotiationErrors."""

    callback_path = CALLBACK_PATH

    def error_body(
        self, error: HansaError, *, provider_pid: str, consumer_pid: str, instance: str
    ) -> dict[str, Any]:
        return negotiation_error_body(
            error, provider_pid=provider_pid, consumer_pid=consumer_pid, instance=instance
        )

    def known_pids(self, error: HansaError) -> tuple[Any, Any]:
        return error.extra.get("providerPid"), error.extra.get("consumerPid")


provider_router = APIRouter(
    prefix=DSP_BASE_PATH, tags=["dsp negotiation"], route_class=NegotiationErrorRoute
)
consumer_router = APIRouter(
    prefix=CALLBACK_PATH, tags=["dsp negotiation (consumer)"], route_class=NegotiationErrorRoute
)
Message = Annotated[Any, Body()]
# The caller is authenticated inside the (sync) handler rather than by a dependency: one
# trip to the thread pool per message instead of two.
Authorization = Annotated[str | None, Header()]


def _service(request: Request, body: Any = None) -> NegotiationService:
    if body is not None:
        json_depth(body, request.app.state.settings.api.max_json_depth)
    service: NegotiationService | None = getattr(request.app.state.node, "negotiations", None)
    if service is None:
        raise ConfigurationError(
            "this node does not negotiate contracts (enable the connector role)",
            code="negotiation.disabled",
        )
    return service


def _answer(answer: tuple[int, dict[str, Any]]) -> JSONResponse:
    return JSONResponse(answer[1], status_code=answer[0])


def _receive(
    request: Request, authorization: str | None, role: Party, pid: str, body: Any, kind: str
) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    service = _service(request, body)
    claims = caller if isinstance(caller, IdTokenClaims) else None
    return _answer(
        service.receive(
            caller.did,
            role,
            pid,
            body,
            path=request.url.path,
            expected_type=kind,
            id_token=claims,
        )
    )


# --- provider -----------------------------------------------------------------------------


@provider_router.post("/negotiations/request", status_code=201, summary="Request an offer")
def request_contract(
    request: Request, body: Message, authorization: Authorization = None
) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    service = _service(request, body)
    claims = caller if isinstance(caller, IdTokenClaims) else None
    return _answer(service.receive_request(caller.did, claims, body, path=request.url.path))


@provider_router.get("/negotiations/{pid}", summary="A negotiation (provider side)")
def get_as_provider(
    request: Request, pid: str, authorization: Authorization = None
) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    return JSONResponse(_service(request).get(caller.did, "provider", pid))


@provider_router.post("/negotiations/{pid}/request", summary="Counter-offer of the consumer")
def counter_request(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(request, authorization, "provider", pid, body, "ContractRequestMessage")


@provider_router.post("/negotiations/{pid}/events", summary="The consumer accepts an offer")
def provider_event(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(
        request, authorization, "provider", pid, body, "ContractNegotiationEventMessage"
    )


@provider_router.post("/negotiations/{pid}/agreement/verification", summary="Verification")
def verification(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(
        request, authorization, "provider", pid, body, "ContractAgreementVerificationMessage"
    )


@provider_router.post("/negotiations/{pid}/termination", summary="The consumer terminates")
def provider_termination(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(
        request, authorization, "provider", pid, body, "ContractNegotiationTerminationMessage"
    )


# --- consumer callbacks -------------------------------------------------------------------


@consumer_router.get("/negotiations/{pid}", summary="A negotiation (consumer side)")
def get_as_consumer(
    request: Request, pid: str, authorization: Authorization = None
) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    return JSONResponse(_service(request).get(caller.did, "consumer", pid))


@consumer_router.post(
    "/negotiations/offers", status_code=201, summary="A provider offers a contract (initial)"
)
def initial_offer(
    request: Request, body: Message, authorization: Authorization = None
) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    service = _service(request, body)
    return _answer(service.receive_offer(caller.did, body, path=request.url.path))


@consumer_router.post("/negotiations/{pid}/offers", summary="Counter-offer of the provider")
def offers(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(request, authorization, "consumer", pid, body, "ContractOfferMessage")


@consumer_router.post("/negotiations/{pid}/agreement", summary="The provider's agreement")
def agreement(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(request, authorization, "consumer", pid, body, "ContractAgreementMessage")


@consumer_router.post("/negotiations/{pid}/events", summary="The provider finalizes")
def consumer_event(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(
        request, authorization, "consumer", pid, body, "ContractNegotiationEventMessage"
    )


@consumer_router.post("/negotiations/{pid}/termination", summary="The provider terminates")
def consumer_termination(
    request: Request, pid: str, body: Message, authorization: Authorization = None
) -> JSONResponse:
    return _receive(
        request, authorization, "consumer", pid, body, "ContractNegotiationTerminationMessage"
    )
