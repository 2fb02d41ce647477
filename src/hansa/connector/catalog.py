"""The DSP 2025-1 catalog of a provider: a ``dcat:Catalog`` of its offered assets.

Each asset with offers is a ``Dataset`` whose ``hasPolicy`` lists its ``odrl:Offer``s
(the stored policy, with the offer's ``@id`` and no ``target``, which the enclosing
dataset implies) and whose ``distribution``s name the transfer formats the data plane
serves for its data address, each through the node's ``DataService`` (its DSP
endpoint). Data addresses never appear in the catalog.

Paging follows the HTTPS binding: the answer carries RFC 8288 ``Link`` headers with
``rel="next"`` / ``rel="previous"`` URLs; their ``continuationToken`` is opaque to the
consumer (here: the offset, base64url JSON).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from hansa.connector import dsp_messages as dsp
from hansa.connector.assets import AssetService, CatalogQuery, Offer, OfferedAsset, StoredPolicy
from hansa.connector.data_address import AMAZON_S3
from hansa.connector.dsp_offer import offer_json
from hansa.errors import BadRequest, HansaError, NotFound

DSP_VERSION = dsp.DSP_VERSION
DSP_BASE_PATH = "/dsp/2025-1"
"""Where this node's DSP 2025-1 endpoints live, below its base URL (advertised in
``/.well-known/dspace-version``); negotiation and transfer endpoints go under it too."""

# What the data plane serves for each kind of data address (DSP ``format`` values, as
# EDC names them: <destination type>-<PULL|PUSH>).
TRANSFER_FORMATS: Mapping[str, tuple[str, ...]] = {
    "HttpData": ("HttpData-PULL", "HttpData-PUSH"),
    "File": ("HttpData-PULL", "HttpData-PUSH"),
    AMAZON_S3: ("HttpData-PULL", "HttpData-PUSH", "AmazonS3-PUSH"),
}
FILTER_KEYS = ("keyword", "id")


class AuthenticatedCaller(Protocol):
    """Who sent a DSP request, as its verified DCP token says."""

    @property
    def did(self) -> str: ...


class CallerAuthenticator(Protocol):
    """Verifies the ``Authorization`` header of a DSP request (a DCP self-issued ID token).

    Returns the caller (at least its DID) or raises ``Unauthorized`` with a ``dcp.*`` code.
    The node holds one as ``node.dsp_auth``; without one, protocol endpoints refuse all.
    """

    def authenticate(self, authorization: str | None) -> AuthenticatedCaller: ...


@dataclass(frozen=True)
class DspEndpoint:
    """This node as a DSP provider: its participant id and its DSP endpoint URL."""

    participant_id: str
    base_url: str

    @property
    def endpoint_url(self) -> str:
        return self.base_url.rstrip("/") + DSP_BASE_PATH

    @property
    def service_id(self) -> str:
        # Stable across restarts and nodes' copies of one catalog, unique per endpoint.
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self.endpoint_url)}"

    @property
    def catalog_id(self) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self.endpoint_url + '/catalog')}"

    def data_service(self) -> dict[str, Any]:
        return dsp.data_service(self.service_id, self.endpoint_url)


@dataclass(frozen=True)
class CatalogPage:
    """One answer to a catalog request: the Catalog, and the tokens of its neighbours."""

    catalog: dict[str, Any]
    next_token: str | None
    previous_token: str | None

    def link_header(self, request_url: str) -> str | None:
        """The RFC 8288 ``Link`` header value for the neighbouring pages, if any."""
        links = [
            f'<{request_url}?continuationToken={quote(token)}>; rel="{rel}"'
            for rel, token in (("previous", self.previous_token), ("next", self.next_token))
            if token is not None
        ]
        return ", ".join(links) or None


def dataset_json(
    offered: OfferedAsset,
    endpoint: DspEndpoint,
    *,
    standalone: bool,
    visible: Sequence[tuple[Offer, StoredPolicy]] | None = None,
) -> dict[str, Any]:
    """A ``Dataset``; ``standalone`` (a dataset request) inlines the DataService and context."""
    asset = offered.asset
    offers = offered.offers if visible is None else visible
    access: str | dict[str, Any] = endpoint.data_service() if standalone else endpoint.service_id
    kind = str(asset.data_address.get("type", ""))
    distributions = []
    for fmt in TRANSFER_FORMATS.get(kind, ("HttpData-PULL",)):
        entry = dsp.distribution(fmt, access)
        if asset.content_type:
            entry["dcat:mediaType"] = asset.content_type
        distributions.append(entry)
    described = {
        "dct:title": asset.title,
        "dct:description": asset.description,
        "dcat:keyword": list(asset.keywords) or None,
    }
    return dsp.dataset(
        asset.id,
        offers=[offer_json(offer.id, policy.document) for offer, policy in offers],
        distributions=distributions,
        root=standalone,
        **{k: v for k, v in described.items() if v},
    )


def catalog_json(endpoint: DspEndpoint, datasets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The root ``Catalog``; ``dataset`` is left out when empty (the schema wants 1+ items)."""
    return dsp.catalog(
        endpoint.catalog_id,
        participant_id=endpoint.participant_id,
        datasets=datasets,
        services=[endpoint.data_service()],
    )


def catalog_error(error: HansaError) -> dict[str, Any]:
    """A DSP ``CatalogError`` that is also an RFC 9457 problem (both shapes in one object)."""
    problem = {k: v for k, v in error.to_problem().items() if k != "code"}
    return {**dsp.catalog_error(error.code, error.detail), **problem}


def version_metadata(endpoint: DspEndpoint) -> dict[str, Any]:
    """The ``VersionResponse`` of ``/.well-known/dspace-version``."""
    return dsp.version_response(
        [
            dsp.protocol_version(
                DSP_BASE_PATH,
                version=DSP_VERSION,
                service_id=endpoint.service_id,
                identifier_type="did:web",
                auth={"protocol": "DCP", "version": "1.0", "profile": ["vc20-bssl/jwt"]},
            )
        ]
    )


def parse_filter(raw: Any) -> tuple[str | None, tuple[str, ...]]:
    """The supported ``filter``: objects ``{"keyword": "..."}`` or ``{"id": "..."}``, all ANDed.

    Anything else is refused (400, ``catalog.filter_unsupported``), as the binding requires.
    """
    keyword: str | None = None
    ids: list[str] = []
    if raw is None:
        return None, ()
    if not isinstance(raw, list):
        raise _unsupported("/filter", "filter must be an array")
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or len(item) != 1:
            raise _unsupported(
                f"/filter/{i}",
                'each filter is an object with one key: {"keyword": "..."} or {"id": "..."}',
            )
        ((key, value),) = item.items()
        if key not in FILTER_KEYS or not isinstance(value, str) or not value:
            raise _unsupported(
                f"/filter/{i}/{key}",
                f"unsupported filter {key!r}: this catalog filters by "
                f"{' or '.join(FILTER_KEYS)} (a non-empty string)",
            )
        if key == "keyword":
            if keyword is not None:
                raise _unsupported(f"/filter/{i}", "give at most one keyword filter")
            keyword = value
        else:
            ids.append(value)
    return keyword, tuple(ids)


def _unsupported(pointer: str, detail: str) -> BadRequest:
    return BadRequest(detail, code="catalog.filter_unsupported", pointer=pointer)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    """The offset a continuation token stands for; ``catalog.invalid_continuation_token``."""
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = data["o"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise BadRequest(
            "the continuationToken is not one this catalog issued; "
            "follow the Link headers of the previous answer, or start without a token",
            code="catalog.invalid_continuation_token",
            pointer="query:continuationToken",
        )
    return offset


def visible_to(policy: StoredPolicy, caller_did: str) -> bool:
    """Whether a caller may see an offer of ``policy``: it names no assignee, or the caller."""
    assignee = policy.document.get("assignee")
    names = assignee if isinstance(assignee, list) else [assignee] if assignee else []
    ids = {n.get("@id") if isinstance(n, dict) else n for n in names}
    return not ids or caller_did in ids


def visible_offers(offered: OfferedAsset, caller_did: str) -> list[tuple[Offer, StoredPolicy]]:
    """The offers a caller may see: those whose policy names no assignee, or names the caller."""
    return [(offer, policy) for offer, policy in offered.offers if visible_to(policy, caller_did)]


class CatalogService:
    """Answers DSP catalog and dataset requests from the node's offered assets."""

    def __init__(self, assets: AssetService, endpoint: DspEndpoint, page_size: int = 50) -> None:
        self.assets = assets
        self.endpoint = endpoint
        self.page_size = page_size

    def catalog(
        self, caller: AuthenticatedCaller, filter: Any = None, token: str | None = None
    ) -> CatalogPage:
        """One page of the catalog as ``caller`` may see it."""
        keyword, ids = parse_filter(filter)
        offset = decode_token(token)
        page, more = self.assets.offered_assets(
            CatalogQuery(offset=offset, limit=self.page_size, keyword=keyword, asset_ids=ids)
        )
        datasets = []
        for offered in page:
            visible = visible_offers(offered, caller.did)
            if visible:
                datasets.append(
                    dataset_json(offered, self.endpoint, standalone=False, visible=visible)
                )
        return CatalogPage(
            catalog_json(self.endpoint, datasets),
            next_token=encode_token(offset + self.page_size) if more else None,
            previous_token=encode_token(max(0, offset - self.page_size)) if offset else None,
        )

    def dataset(self, caller: AuthenticatedCaller, dataset_id: str) -> dict[str, Any]:
        """One dataset, or 404 ``catalog.dataset_not_found`` (also when hidden from the caller)."""
        try:
            offered = self.assets.offered_asset(dataset_id)
        except NotFound:
            offered = None
        visible = visible_offers(offered, caller.did) if offered is not None else []
        if offered is None or not visible:
            raise NotFound(
                f"this catalog has no dataset {dataset_id!r}", code="catalog.dataset_not_found"
            )
        return dataset_json(offered, self.endpoint, standalone=True, visible=visible)
