"""A stored ODRL policy written as the ``odrl:Offer`` of a DSP dataset, and checked as one.

The offer is the policy under the offer's ``@id``, without ``@context``, ``uid`` and
``target`` (the enclosing dataset is the target). Numeric and boolean right operands
are written as JSON-LD value objects (``{"@value": 5}``): the same literal, but the DSP
schema allows only strings, objects and arrays there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hansa.connector.dsp_schemas import DSP_CONTEXT, schema_errors
from hansa.errors import ValidationFailed

_NOT_IN_OFFER = frozenset({"@context", "@id", "@type", "uid", "target"})
_PREFIX = "/hasPolicy/0"


def offer_json(offer_id: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Offer`` with ``@id`` ``offer_id`` for a stored policy document."""
    body = {k: _wrap_scalars(v) for k, v in document.items() if k not in _NOT_IN_OFFER}
    return {"@id": offer_id, "@type": "Offer", **body}


def _wrap_scalars(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _wrap_scalars(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_scalars(v, key) for v in value]
    if key == "rightOperand" and isinstance(value, bool | int | float):
        return {"@value": value}
    return value


def check_dsp_offer(document: Mapping[str, Any]) -> None:
    """Refuse a policy whose Offer breaks the DSP schema (``offer.not_dsp_compatible``).

    Pointers in ``errors`` point into the policy document.
    """
    probe = {
        "@context": [DSP_CONTEXT],
        "@id": "urn:probe",
        "@type": "Dataset",
        "hasPolicy": [offer_json("urn:probe:offer", document)],
        "distribution": [
            {"@type": "Distribution", "format": "HttpData-PULL", "accessService": "s"}
        ],
    }
    problems = [
        {**e, "pointer": e["pointer"][len(_PREFIX) :]}
        for e in schema_errors(probe, "Dataset")
        if e["pointer"].startswith(_PREFIX)
    ]
    if problems:
        first = problems[0]
        raise ValidationFailed(
            "this policy cannot be offered over the Dataspace Protocol: "
            f"{first['pointer'] or '(the policy)'} {first['message']}; DSP offers write actions "
            "as strings and need a permission or prohibition",
            code="offer.not_dsp_compatible",
            pointer="/policyId",
            errors=problems,
        )
