"""Management API of transfers, agreements and the usage log (admin key).

POST /management/transfers                   consumer: {agreementId, type, destination?} starts
                                             a transfer (HttpData-PULL: destination is a local
                                             backend address, default a file under
                                             files/transfers/; *-PUSH: the DSP DataAddress the
                                             provider sends to)
GET  /management/transfers                   newest first (?state=COMPLETED)
GET  /management/transfers/{id}              ?waitFor=COMPLETED,TERMINATED answers once it is
                                             in one of those states (or after ?timeout=)
POST /management/transfers/{id}/{action}     start | suspend | resume | complete | terminate
POST /management/transfers/{id}/token        consumer: ask the provider for a fresh data token
GET  /management/agreements/{id}             provider: an agreement and whether it is revoked
POST /management/agreements/{id}/revoke      provider: {reason?}; running pulls stop within a chunk
GET  /management/usage                       usage events (CloudEvents), ?agreement= &transfer=
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from hansa.connector.agreements import AgreementEnforcer
from hansa.connector.dsp_routes import view_or_wait
from hansa.connector.transfers import TransferService
from hansa.errors import ConfigurationError
from hansa.web import AdminAuth, json_depth

router = APIRouter(prefix="/management", tags=["connector transfer"], dependencies=[AdminAuth])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class StartTransfer(_Strict):
    agreement_id: str = Field(description="a FINALIZED agreement this node holds as consumer")
    type: Literal["HttpData-PULL", "HttpData-PUSH", "AmazonS3-PUSH"] = "HttpData-PULL"
    destination: dict[str, Any] | None = None


class Reason(_Strict):
    reason: str | None = Field(None, max_length=2000)


def _service(request: Request) -> TransferService:
    service: TransferService | None = getattr(request.app.state.node, "transfers", None)
    if service is None:
        raise ConfigurationError(
            "this node does not transfer data (enable the connector role)",
            code="transfer.disabled",
        )
    return service


def _agreements(request: Request) -> AgreementEnforcer:
    return _service(request).agreements


@router.post("/transfers", status_code=201, summary="Start a transfer under an agreement")
def start(request: Request, body: StartTransfer) -> dict[str, Any]:
    if body.destination is not None:
        json_depth(body.destination, request.app.state.settings.api.max_json_depth)
    return _service(request).start(
        agreement_id=body.agreement_id, transfer_type=body.type, destination=body.destination
    )


@router.get("/transfers", summary="Transfers, newest first")
def list_transfers(
    request: Request, state: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    return _service(request).list(state)


@router.get("/transfers/{pid}", summary="One transfer (optionally once it reaches a state)")
def get_transfer(
    request: Request,
    pid: str,
    wait_for: Annotated[
        str | None, Query(alias="waitFor", description="e.g. COMPLETED,TERMINATED")
    ] = None,
    timeout: Annotated[float, Query(ge=0, le=60)] = 30,
) -> dict[str, Any]:
    return view_or_wait(_service(request), pid, wait_for, timeout)


@router.post("/transfers/{pid}/token", summary="Ask the provider for a fresh data token")
def renew_token(request: Request, pid: str) -> dict[str, Any]:
    return {"dataAddress": _service(request).request_token(pid)}


@router.post(
    "/transfers/{pid}/{action}", summary="Our move: start, suspend, resume, complete, terminate"
)
def act(
    request: Request,
    pid: str,
    action: Literal["start", "suspend", "resume", "complete", "terminate"],
    body: Reason | None = None,
) -> dict[str, Any]:
    return _service(request).act(pid, action, (body or Reason()).reason)


@router.get("/agreements/{agreement_id}", summary="An agreement we granted")
def get_agreement(request: Request, agreement_id: str) -> dict[str, Any]:
    return _agreements(request).view(agreement_id)


@router.post("/agreements/{agreement_id}/revoke", summary="Revoke an agreement we granted")
def revoke(request: Request, agreement_id: str, body: Reason | None = None) -> dict[str, Any]:
    return _agreements(request).revoke(agreement_id, (body or Reason()).reason)


@router.get("/usage", summary="Who used what: usage events (CloudEvents)")
def usage(
    request: Request,
    agreement: Annotated[str | None, Query()] = None,
    transfer: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    return _service(request).usage.events(agreement_id=agreement, transfer_id=transfer)
