"""Broken versions of a JSON document, for holding two validators to the same verdict."""

from __future__ import annotations

from typing import Any

WRONG_VALUES: list[Any] = [None, 5, "x", [], {}, [5], {"@type": 5}, {"id": 5}]


def variants(message: dict[str, Any]) -> list[Any]:
    """``message`` and broken versions of it: each member dropped or given a wrong value,
    one level into objects and arrays too."""
    found: list[Any] = [message]
    for key, inner in message.items():
        found.append({k: v for k, v in message.items() if k != key})
        found.extend({**message, key: value} for value in WRONG_VALUES)
        if isinstance(inner, dict):
            for inner_key in inner:
                found.append({**message, key: {**inner, inner_key: 5}})
                found.append({**message, key: {k: v for k, v in inner.items() if k != inner_key}})
        if isinstance(inner, list) and inner:
            found.extend({**message, key: [value, *inner[1:]]} for value in WRONG_VALUES)
    return found
