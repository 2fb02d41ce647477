"""The change feed's wire checks (pure): what a follower refuses before it trusts anything."""

from __future__ import annotations

from typing import Any

import pytest

from hansa.catalogue.federation import normalise_url
from hansa.catalogue.feed import parse_page
from hansa.errors import HansaError

TOKEN = "eyJhbGciOiJFZDI1NTE5In0.eyJpZCI6InVybjp4In0.c2ln"


def change(seq: Any, **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "entry": "e" * 32, "kind": "insert", **extra}


def test_a_well_formed_page_gives_changes_and_the_new_cursor() -> None:
    originals = {"credential": TOKEN, "label": TOKEN, "evidence": [TOKEN]}
    changes, last = parse_page(
        {"changes": [change(4), change(7, originals=originals)], "last": 7}, 3, 10
    )
    assert last == 7
    assert [(c.seq, len(c.tokens)) for c in changes] == [(4, 0), (7, 3)]
    assert parse_page({"changes": [], "last": 3}, 3, 10) == ([], 3)


@pytest.mark.parametrize(
    "page",
    [
        [],
        {"changes": [change(True)], "last": 1},
        {"changes": [change(3)], "last": 3},  # not after the cursor
        {"changes": [], "last": 9},  # an empty page must not move the cursor
        {"changes": [change(4)], "last": "4"},
        {"changes": [{**change(4), "entry": "x" * 65}], "last": 4},
        {"changes": [change(4, originals={"credential": TOKEN, "label": TOKEN})], "last": 4},
        {
            "changes": [change(4, originals={"credential": "a.b", "label": TOKEN, "evidence": []})],
            "last": 4,
        },
        {
            "changes": [
                change(4, originals={"credential": TOKEN, "label": TOKEN, "evidence": [TOKEN] * 17})
            ],
            "last": 4,
        },
    ],
)
def test_malformed_pages_are_garbage(page: Any) -> None:
    with pytest.raises(HansaError) as refused:
        parse_page(page, 3, 10)
    assert refused.value.code == "catalogue.peer_garbage"


def test_peer_urls() -> None:
    assert normalise_url(" https://ch.example.eu/ ") == "https://ch.example.eu"
    assert normalise_url("http://127.0.0.1:8080/base/") == "http://127.0.0.1:8080/base"
    for bad in ("ftp://x", "https://", "https://x?since=5", "not a url"):
        with pytest.raises(HansaError) as refused:
            normalise_url(bad)
        assert refused.value.code == "catalogue.invalid_peer"
