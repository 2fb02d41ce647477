"""DSP 2025-1 transfer process endpoints (HTTPS binding), provider and consumer callbacks.

Provider, under ``{base}/dsp/2025-1``::

    POST /transfers/request                       TransferRequestMessage -> 201
    GET  /transfers/{providerPid}                 -> TransferProcess
    POST /transfers/{providerPid}/start | completion | termination | suspension
    POST /transfers/{providerPid}/token           (Hansa) a fresh PULL DataAddress

Consumer, under its callback address ``{base}/dsp/2025-1/callback``::

    GET  /transfers/{consumerPid}
    POST /transfers/{consumerPid}/start | completion | termination | suspension

Every request needs a DCP ID token. Errors are ``TransferError`` bodies that are also RFC
9457 problems: 400 for an invalid message or a refused transition, 401 for a bad token,
403 when the agreement is not in force, 404 for a process (or agreement) that does not
exist or is not the caller's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse

from hansa.connector import dsp_messages as dsp
from hansa.connector.catalog import DSP_BASE_PATH
from hansa.connector.catalog_api import require_dsp_caller
from hansa.connector.dsp_routes import DspErrorRoute
from hansa.connector.transfers import CALLBACK_PATH, TransferService
from hansa.errors import BadRequest, ConfigurationError, HansaError
from hansa.web import json_depth


def transfer_error_body(
    error: HansaError, *, provider_pid: str, consumer_pid: str, instance: str
) -> dict[str, Any]:
    """A ``TransferError`` that is also an RFC 9457 problem."""
    problem = {k: v for k, v in error.to_problem(instance).items() if k != "code"}
    body = dsp.transfer_error(
        provider_pid=provider_pid, consumer_pid=consumer_pid, code=error.code, reason=error.detail
    )
    return {**problem, **body}


class TransferErrorRoute(DspErrorRoute):
    """A route whose errors answer as DSP TransferErrors."""

    callback_path = CALLBACK_PATH

    def error_body(
        self, error: HansaError, *, provider_pid: str, consumer_pid: str, instance: str
    ) -> dict[str, Any]:
        return transfer_error_body(
            error, provider_pid=provider_pid, consumer_pid=consumer_pid, instance=instance
        )


provider_router = APIRouter(
    prefix=DSP_BASE_PATH, tags=["dsp transfer"], route_class=TransferErrorRoute
)
consumer_router = APIRouter(
    prefix=CALLBACK_PATH, tags=["dsp transfer (consumer)"], route_class=TransferErrorRoute
)
Message = Annotated[Any, Body()]
Authorization = Annotated[str | None, Header()]
_KINDS = {
    "start": "TransferStartMessage",
    "completion": "TransferCompletionMessage",
    "termination": "TransferTerminationMessage",
    "suspension": "TransferSuspensionMessage",
}


def _service(request: Request, body: Any = None) -> TransferService:
    if body is not None:
        json_depth(body, request.app.state.settings.api.max_json_depth)
    service: TransferService | None = getattr(request.app.state.node, "transfers", None)
    if service is None:
        raise ConfigurationError(
            "this node does not transfer data (enable the connector role)",
            code="transfer.disabled",
        )
    return service


def _receive(
    request: Request, authorization: str | None, role: str, pid: str, body: Any, action: str
) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    kind = _KINDS.get(action)
    if kind is None:
        raise BadRequest(
            f"unknown transfer endpoint {action!r}; use start, completion, termination or "
            "suspension",
            code="transfer.unknown_endpoint",
        )
    service = _service(request, body)
    status, answer = service.receive(
        caller.did, role, pid, body, path=request.url.path, expected_type=kind
    )
    return JSONResponse(answer, status_code=status)


@provider_router.post("/transfers/request", status_code=201, summary="Request a transfer")
def request_transfer(request: Request, authorization: Authorization, body: Message) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    status, answer = _service(request, body).receive_request(
        caller.did, body, path=request.url.path
    )
    return JSONResponse(answer, status_code=status)


@provider_router.get("/transfers/{pid}", summary="A transfer process (provider side)")
def get_as_provider(request: Request, authorization: Authorization, pid: str) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    return JSONResponse(_service(request).get(caller.did, "provider", pid))


@provider_router.post("/transfers/{pid}/token", summary="A fresh data token (Hansa)")
def renew_token(request: Request, authorization: Authorization, pid: str) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    return JSONResponse(_service(request).renew_token(caller.did, pid))


@provider_router.post("/transfers/{pid}/{action}", summary="A message from the consumer")
def to_provider(
    request: Request, authorization: Authorization, pid: str, action: str, body: Message
) -> JSONResponse:
    return _receive(request, authorization, "provider", pid, body, action)


@consumer_router.get("/transfers/{pid}", summary="A transfer process (consumer side)")
def get_as_consumer(request: Request, authorization: Authorization, pid: str) -> JSONResponse:
    caller = require_dsp_caller(request, authorization)
    return JSONResponse(_service(request).get(caller.did, "consumer", pid))


@consumer_router.post("/transfers/{pid}/{action}", summary="A message from the provider")
def to_consumer(
    request: Request, authorization: Authorization, pid: str, action: str, body: Message
) -> JSONResponse:
    return _receive(request, authorization, "consumer", pid, body, action)
