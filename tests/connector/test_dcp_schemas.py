"""The DCP schema check: jsonschema-rs decides validity first, jsonschema explains errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hansa.connector.dcp_schemas import (
    QUERY_SCHEMA,
    RESPONSE_SCHEMA,
    _fast_validator,
    _validator,
    schema_errors,
)
from json_variants import variants

EXAMPLES = Path(__file__).parent / "dcp_examples"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_the_fast_check_agrees_with_jsonschema(example: Path) -> None:
    message = json.loads(example.read_text(encoding="utf-8"))
    schema = QUERY_SCHEMA if "query" in example.name else RESPONSE_SCHEMA
    assert schema_errors(message, schema) == []
    for variant in variants(message):
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
