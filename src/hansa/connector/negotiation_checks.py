"""Checks of an inbound contract request, and the management view of a negotiation.

- :func:`check_callback_address`: a consumer's callback address the node would call.
- :func:`published_offer`: the request names a published offer, visible to the caller,
  with its terms unchanged (400 ``negotiation.offer_unknown`` / ``negotiation.offer_mismatch``).
- :func:`policy_refusal`: the consumer's claims (fetched over DCP, only those the policy
  reads) evaluated against the offer's policy; a 403 ``negotiation.policy_not_satisfied``
  with the evaluator's explanation, or None.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from hansa.connector.assets import AssetService, StoredPolicy
from hansa.connector.catalog import visible_to
from hansa.connector.credential_service import CredentialServiceClient
from hansa.connector.dcp import IdTokenClaims
from hansa.connector.dsp_offer import offer_json
from hansa.connector.negotiation_rows import Negotiation
from hansa.connector.negotiation_terms import (
    consumer_from_credentials,
    same_terms,
    scopes_for_policy,
)
from hansa.errors import BadRequest, Forbidden, HansaError, NotFound
from hansa.fetch_guard import classify_address
from hansa.policy import EvaluationContext, EvaluationRequest, evaluate, parse_policy
from hansa.policy.errors import PolicyError


def check_callback_address(url: Any, *, allow_loopback: bool, allow_private: bool) -> str:
    """Refuse a callback address the node would never call (``negotiation.callback_refused``).

    Host names are checked again, resolved, by the outbound guard when the message is sent.
    """
    if not isinstance(url, str):
        raise BadRequest(
            "an initiating ContractRequestMessage needs a callbackAddress",
            code="negotiation.callback_missing",
            pointer="/callbackAddress",
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("https", "http") or not parsed.host:
        raise BadRequest(
            f"callbackAddress {url[:200]!r} is not an https:// URL",
            code="negotiation.callback_refused",
            pointer="/callbackAddress",
        )
    try:
        kind = classify_address(ipaddress.ip_address(parsed.host))
    except ValueError:
        kind = "loopback" if parsed.host == "localhost" else "global"
    allowed = {"global"} | ({"loopback"} if allow_loopback else set())
    allowed |= {"private"} if allow_private else set()
    if kind not in allowed:
        raise BadRequest(
            f"callbackAddress {url[:200]} points at a {kind.replace('_', '-')} address; "
            "this node sends protocol messages only to public addresses",
            code="negotiation.callback_refused",
            pointer="/callbackAddress",
        )
    return url.rstrip("/")


def published_offer(
    assets: AssetService | None, caller_did: str, offer: Mapping[str, Any]
) -> tuple[str, StoredPolicy]:
    """The asset and stored policy of the published offer the request names, unchanged."""
    offer_id = offer.get("@id")
    target = offer.get("target")
    unknown = BadRequest(
        f"this provider publishes no offer {offer_id!r}; take an offer from its catalog",
        code="negotiation.offer_unknown",
        pointer="/offer/@id",
    )
    if assets is None or not isinstance(offer_id, str):
        raise unknown
    try:
        # The offer with its policy in one query: every offer is of an asset (a foreign
        # key), which an offer makes a published dataset.
        published, policy = assets.offer_with_policy(offer_id)
    except NotFound:
        raise unknown from None
    if not visible_to(policy, caller_did):
        raise unknown
    published_asset = published.asset_id
    if target not in (None, published_asset) or not same_terms(
        offer, offer_json(offer_id, policy.document)
    ):
        raise BadRequest(
            f"the offer differs from the published offer {offer_id!r} (its rules or its "
            f"target {published_asset!r}); request it as the catalog shows it",
            code="negotiation.offer_mismatch",
            pointer="/offer",
        )
    return published_asset, policy


def published_offer_json(assets: AssetService | None, offer_id: str) -> dict[str, Any]:
    """One of our published offers as an ``Offer`` with its ``target`` (``offer_unknown``)."""
    unknown = BadRequest(
        f"this node publishes no offer {offer_id!r}",
        code="negotiation.offer_unknown",
        pointer="/offerId",
    )
    if assets is None:
        raise unknown
    try:
        published = assets.get_offer(offer_id)
        offered = assets.offered_asset(published.asset_id)
    except NotFound:
        raise unknown from None
    policy = next(p for o, p in offered.offers if o.id == offer_id)
    return {**offer_json(offer_id, policy.document), "target": published.asset_id}


def policy_refusal(
    claims_client: CredentialServiceClient | None,
    caller_did: str,
    id_token: IdTokenClaims | None,
    asset_id: str,
    policy: Mapping[str, Any],
    now: datetime,
) -> HansaError | None:
    """Why the consumer may not have the offer, or None when ``policy`` allows it.

    ``policy`` is a stored ODRL policy or the offer on the table (an ``Offer``).
    """
    try:
        parsed = parse_policy(policy)
    except PolicyError as exc:
        return Forbidden(
            f"the offer's policy cannot be evaluated: {exc.detail}",
            code="negotiation.policy_not_satisfied",
            cause=exc.code,
        )
    scopes = scopes_for_policy(parsed)
    credentials: list[dict[str, Any]] = []
    if scopes:
        if claims_client is None or id_token is None:
            return Forbidden(
                "the offer's policy reads the consumer's credentials, and no DCP token "
                "with an access token was given",
                code="negotiation.policy_not_satisfied",
            )
        try:
            presented = claims_client.fetch_claims(id_token, scopes)
        except HansaError as exc:
            return Forbidden(
                f"the consumer's credentials could not be obtained: {exc.detail}",
                code="negotiation.policy_not_satisfied",
                cause=exc.code,
            )
        credentials = [c.credential for c in presented.credentials]
    decision = evaluate(
        parsed,
        EvaluationRequest(
            action="use",
            consumer=consumer_from_credentials(caller_did, credentials),
            # An offer is agreed before any use: a count limit is read with none made.
            context=EvaluationContext(now=now, count=0),
            target=asset_id,
        ),
    )
    if decision.allowed:
        return None
    return Forbidden(
        f"the offer's policy does not allow this consumer: {decision.reason}",
        code="negotiation.policy_not_satisfied",
        explanation=decision.explain(),
    )


def negotiation_view(record: Negotiation) -> dict[str, Any]:
    provider_pid, consumer_pid = (
        (record.id, record.counterparty_pid)
        if record.role == "provider"
        else (record.counterparty_pid, record.id)
    )
    return {
        "id": record.id,
        "role": record.role,
        "state": record.state,
        "providerPid": provider_pid,
        "consumerPid": consumer_pid,
        "counterpartyDid": record.counterparty_did,
        "counterpartyAddress": record.counterparty_address,
        "offerId": record.offer_id,
        "datasetId": record.dataset_id,
        "offer": record.offer,
        "agreementId": record.agreement_id,
        "agreement": record.agreement,
        "error": {"code": record.error_code, "reason": record.error_reason}
        if record.error_code or record.error_reason
        else None,
        "history": record.history,
        "createdAt": record.created_at.isoformat(),
        "updatedAt": record.updated_at.isoformat(),
    }


__all__ = [
    "check_callback_address",
    "negotiation_view",
    "policy_refusal",
    "published_offer",
    "published_offer_json",
]
