"""How entries look to readers: a search hit, and the full offering detail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hansa.catalogue.models import CatalogueEntry
from hansa.catalogue.search import EntrySummary, Hit, marked_html
from hansa.errors import HansaError
from hansa.policy.describe import describe_policy


def _provider(entry: CatalogueEntry, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": entry.owner,
        "name": names.get(entry.owner),
        "reference": entry.document.get("provider"),
    }


def search_item(entry: EntrySummary, hit: Hit) -> dict[str, Any]:
    """One search result: enough to list it, with the matched words marked."""
    document = entry.document
    price = document.get("price") or {}
    return {
        "id": entry.id,
        "subject": entry.subject,
        "type": entry.kind,
        "name": document.get("name"),
        "description": document.get("description"),
        "provider": {
            "id": entry.owner,
            "name": entry.provider_name,
            "reference": entry.document.get("provider"),
        },
        "label": entry.label_level,
        "keywords": document.get("keywords") or [],
        "priceModel": price.get("priceModel"),
        "highlights": {field: marked_html(value) for field, value in hit.highlights.items()},
    }


def policy_in_words(policy: Mapping[str, Any]) -> dict[str, Any]:
    """An ODRL policy with its sentences, or why it could not be put into words."""
    try:
        return {"odrl": policy, "inWords": describe_policy(policy)}
    except HansaError as exc:
        return {"odrl": policy, "inWords": None, "problem": f"[{exc.code}] {exc.detail}"}


def entry_detail(entry: CatalogueEntry, names: Mapping[str, str]) -> dict[str, Any]:
    """The offering detail page's data, with the signed originals for anyone to re-verify."""
    document = entry.document
    return {
        "id": entry.id,
        "subject": entry.subject,
        "type": entry.kind,
        "state": entry.state,
        "stateReason": entry.state_reason,
        "name": document.get("name"),
        "description": document.get("description"),
        "provider": _provider(entry, names),
        "keywords": document.get("keywords") or [],
        "formats": document.get("formats") or [],
        "countries": document.get("countries") or [],
        "licences": document.get("licences") or [],
        "labels": [
            {
                "level": entry.label_level,
                "issuer": entry.label_issuer,
                "id": entry.label_id,
            }
        ],
        "policies": [policy_in_words(p) for p in document.get("policies") or []],
        "price": document.get("price"),
        "dspEndpoint": document.get("dspEndpoint"),
        "issuedAt": entry.issued_at.isoformat(),
        "validUntil": entry.valid_until.isoformat() if entry.valid_until else None,
        "seq": entry.seq,
        "credential": entry.credential_token,
        "labelCredential": entry.label_token,
    }
