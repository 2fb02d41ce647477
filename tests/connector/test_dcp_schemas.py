"""The DCP schema check: jsonschema-rs decides validity first, jsonschema explains errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hansa.connector.dcp_schemas import (
    QUERY_SCHEMA,
    RESPONSE_SCHEMA,
    _fast_validator,
    _validator,
    schema_errors,
)

EXAMPLES = Path(__file__).parent / "dcp_examples"
WRONG_VALUES: list[Any] = [None, 5, "x", [], {}, [5], {"id": 5}]


def _variants(message: dict[str, Any]) -> list[Any]:
    variants: list[Any] = [message]
    for key, inner in message.items():
        variants.append({k: v for k, v in message.items() if k != key})
        variants.extend({**message, key: value} for value in WRONG_VALUES)
        if isinstance(inner, dict):
            for inner_key in inner:
                variants.append({**message, key: {**inner, inner_key: 5}})
                variants.append(
                    {**message, key: {k: v for k, v in inner.items() if k != inner_key}}
                )
        if isinstance(inner, list) and inner:
            variants.extend({**message, key: [value, *inner[1:]]} for value in WRONG_VALUES)
    return variants


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_the_fast_check_agrees_with_jsonschema(example: Path) -> None:
    message = json.loads(example.read_text(encoding="utf-8"))
    schema = QUERY_SCHEMA if "query" in example.name else RESPONSE_SCHEMA
    assert schema_errors(message, schema) == []
    for variant in _variants(message):
        slow = _validator(schema).is_valid(variant)
        assert _fast_validator(schema).is_valid(variant) == slow, variant
        assert (schema_errors(variant, schema) == []) == slow


def test_the_fast_check_never_fetches() -> None:
    # The filters reference draft-07's meta-schema: it comes from jsonschema's copy.
    assert _fast_validator(QUERY_SCHEMA).is_valid(
        json.loads(
            (EXAMPLES / "presentation-query-message-w-presentation-definition.json").read_text()
        )
    )
