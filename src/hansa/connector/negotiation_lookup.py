"""Find an offer in a provider's DSP catalog, as a consumer about to negotiate it."""

from __future__ import annotations

from typing import Any

from hansa.connector import dsp_messages as dsp
from hansa.connector.credential_service import SecureTokenService
from hansa.errors import NotFound
from hansa.fetch import GuardedClient

MAX_PAGES = 20


def find_offer(
    http: GuardedClient,
    sts: SecureTokenService,
    provider_address: str,
    provider_did: str,
    offer_id: str,
) -> dict[str, Any]:
    """The offer ``offer_id`` with ``target`` set to its dataset.

    404 ``negotiation.offer_not_in_catalog`` when the catalog does not show it to us.
    """
    url: str | None = provider_address.rstrip("/") + "/catalog/request"
    for _ in range(MAX_PAGES):
        if url is None:
            break
        token = sts.id_token(provider_did)
        response = http.post_json(
            url, dsp.catalog_request_message(), headers={"Authorization": f"Bearer {token}"}
        )
        catalog = response.json()
        for dataset in catalog.get("dataset", []) if isinstance(catalog, dict) else []:
            for offer in dataset.get("hasPolicy", []) if isinstance(dataset, dict) else []:
                if isinstance(offer, dict) and offer.get("@id") == offer_id:
                    return {**offer, "target": dataset.get("@id")}
        url = _next_link(response.headers.get("link"))
    raise NotFound(
        f"the provider's catalog at {provider_address} shows no offer {offer_id!r} to us",
        code="negotiation.offer_not_in_catalog",
        pointer="/offerId",
    )


def _next_link(header: str | None) -> str | None:
    for part in (header or "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params:
            return target.strip().strip("<>")
    return None
