"""Management API of the connector's provider side: assets, policies and offers (admin key).

POST/GET /assets, GET/DELETE /assets/{id}
POST/GET /policies, GET/DELETE /policies/{id}
POST/GET /offers (?assetId=), GET/DELETE /offers/{id}
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from hansa.connector.assets import AssetService, parse_price
from hansa.web import AdminAuth, json_depth

router = APIRouter(tags=["connector management"], dependencies=[AdminAuth])


class _Strict(BaseModel):
    # Python names in snake_case, JSON names (and error pointers) in camelCase.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)


class CreateAssetRequest(_Strict):
    id: str | None = Field(None, description="the dataset @id; a urn:uuid: is made if left out")
    title: str | None = Field(None, max_length=512)
    description: str | None = Field(None, max_length=16384)
    keywords: list[str] = Field(default_factory=list)
    content_type: str | None = Field(None, max_length=256)
    data_address: dict[str, Any] = Field(
        description="HttpData {baseUrl}, File {path} under the file root, "
        "or AmazonS3 {bucket, key, region?, endpoint?}"
    )


class CreatePolicyRequest(_Strict):
    id: str | None = None
    title: str | None = Field(None, max_length=512)
    policy: dict[str, Any] = Field(description="an ODRL 2.2 policy (DSP profile), compact JSON-LD")


class PriceModel(_Strict):
    amount: str = Field(description="a decimal, e.g. '12.50'")
    currency: str = Field(description="ISO 4217, e.g. 'EUR'")


class CreateOfferRequest(_Strict):
    id: str | None = Field(None, description="the offer @id; a urn:uuid: is made if left out")
    asset_id: str
    policy_id: str
    price: PriceModel | None = None


def _assets(request: Request) -> AssetService:
    service: AssetService = request.app.state.node.assets
    return service


def _limit_depth(request: Request, value: Any) -> None:
    json_depth(value, request.app.state.settings.api.max_json_depth)


# --- assets -----------------------------------------------------------------------------


@router.post("/assets", status_code=201, summary="Register an asset and where its data lives")
def create_asset(request: Request, body: CreateAssetRequest) -> dict[str, Any]:
    _limit_depth(request, body.data_address)
    return (
        _assets(request)
        .create_asset(
            body.data_address,
            id=body.id,
            title=body.title,
            description=body.description,
            keywords=body.keywords,
            content_type=body.content_type,
        )
        .to_json()
    )


@router.get("/assets", summary="All assets")
def list_assets(request: Request) -> list[dict[str, Any]]:
    return [a.to_json() for a in _assets(request).list_assets()]


@router.get("/assets/{asset_id}", summary="One asset")
def get_asset(request: Request, asset_id: str) -> dict[str, Any]:
    return _assets(request).get_asset(asset_id).to_json()


@router.delete("/assets/{asset_id}", status_code=204, summary="Delete an asset no offer uses")
def delete_asset(request: Request, asset_id: str) -> Response:
    _assets(request).delete_asset(asset_id)
    return Response(status_code=204)


# --- policies ---------------------------------------------------------------------------


@router.post("/policies", status_code=201, summary="Store an ODRL policy (checked first)")
def create_policy(request: Request, body: CreatePolicyRequest) -> dict[str, Any]:
    _limit_depth(request, body.policy)
    return _assets(request).create_policy(body.policy, id=body.id, title=body.title).to_json()


@router.get("/policies", summary="All stored policies")
def list_policies(request: Request) -> list[dict[str, Any]]:
    return [p.to_json() for p in _assets(request).list_policies()]


@router.get("/policies/{policy_id}", summary="One stored policy, with its description in words")
def get_policy(request: Request, policy_id: str) -> dict[str, Any]:
    return _assets(request).get_policy(policy_id).to_json()


@router.delete("/policies/{policy_id}", status_code=204, summary="Delete a policy no offer uses")
def delete_policy(request: Request, policy_id: str) -> Response:
    _assets(request).delete_policy(policy_id)
    return Response(status_code=204)


# --- offers -----------------------------------------------------------------------------


@router.post("/offers", status_code=201, summary="Offer an asset under a policy")
def create_offer(request: Request, body: CreateOfferRequest) -> dict[str, Any]:
    price = parse_price(body.price.amount, body.price.currency) if body.price else None
    return (
        _assets(request)
        .create_offer(body.asset_id, body.policy_id, id=body.id, price=price)
        .to_json()
    )


@router.get("/offers", summary="All offers, or those of one asset")
def list_offers(
    request: Request, asset_id: Annotated[str | None, Query(alias="assetId")] = None
) -> list[dict[str, Any]]:
    return [o.to_json() for o in _assets(request).list_offers(asset_id)]


@router.get("/offers/{offer_id}", summary="One offer")
def get_offer(request: Request, offer_id: str) -> dict[str, Any]:
    return _assets(request).get_offer(offer_id).to_json()


@router.delete("/offers/{offer_id}", status_code=204, summary="Withdraw an offer")
def delete_offer(request: Request, offer_id: str) -> Response:
    _assets(request).delete_offer(offer_id)
    return Response(status_code=204)
