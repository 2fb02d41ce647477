"""The catalogue's pure parts: projection of gx credentials, digests, highlights, cursors."""

from __future__ import annotations

import pytest

from hansa.catalogue.fts import facet_of_token, facet_token
from hansa.catalogue.ingest import digest_matches, digest_sri
from hansa.catalogue.offering import facet_values, project
from hansa.catalogue.search import (
    MARK_END,
    MARK_START,
    CursorCodec,
    build_query,
    highlight,
    marked_html,
    match_terms,
)
from hansa.errors import BadRequest

GX = "https://w3id.org/gaia-x/development#"


def test_projection_reads_compact_and_expanded_gx_terms() -> None:
    credential = {
        "credentialSubject": {
            "id": "urn:example:product",
            "@type": GX + "DataProduct",
            GX + "providedBy": "did:web:acme.example.eu",
            "gx:digitalServiceOfferingName": "Air quality",
            "gx:dataProductDescription": "Hourly NO2",
            "gx:keyword": "air",
            "dcat:keyword": ["climate", "air"],
            "gx:formats": ["text/csv"],
            "gx:aggregationOfResources": [{"gx:location": {"gx:countryCode": "de-by"}}],
            "gx:dataLicense": {"id": "https://spdx.org/licenses/CC-BY-4.0"},
            "hansa:price": {"hansa:priceModel": "Barter"},
            "hansa:dspEndpoint": "https://acme.example.eu/dsp",
        }
    }
    document = project(credential)
    assert document["type"] == "DataProduct"
    assert document["provider"] == "did:web:acme.example.eu"
    assert (document["name"], document["description"]) == ("Air quality", "Hourly NO2")
    assert document["keywords"] == ["air", "climate"]
    assert document["countries"] == ["DE"]
    assert document["licences"] == ["https://spdx.org/licenses/CC-BY-4.0"]
    assert document["price"] == {"priceModel": "other"}
    assert document["dspEndpoint"] == "https://acme.example.eu/dsp"
    facets = facet_values(document, "L2", "did:web:acme.example.eu")
    assert ("keyword", "climate") in facets
    assert ("label", "L2") in facets
    assert ("provider", "did:web:acme.example.eu") in facets


def test_digest_sri_is_over_the_exact_token_bytes() -> None:
    token = "eyJhbGciOiJFZERTQSJ9.eyJhIjoxfQ.c2ln"
    digest = digest_sri(token)
    assert digest.startswith("sha256-")
    assert digest_matches(token, digest)
    assert digest_matches(token, digest_sri(token, "sha384"))
    assert not digest_matches(token + " ", digest)
    assert not digest_matches(token, "md5-" + digest[7:])


def test_facet_tokens_round_trip() -> None:
    token = facet_token("provider", "did:web:acme.example.eu:ünïcode")
    assert token.isalnum()
    assert facet_of_token(token) == ("provider", "did:web:acme.example.eu:ünïcode")
    assert facet_of_token("zfnothex") is None


def test_query_words_never_carry_syntax() -> None:
    assert match_terms('"Mobil*" AND (NEAR OR x_y) -- é') == [
        "mobil",
        "and",
        "near",
        "or",
        "xy",
        "é",
    ]
    with pytest.raises(BadRequest) as refused:
        build_query("x", {"colour": ["blue"]})
    assert refused.value.code == "catalogue.unknown_facet"
    assert build_query("", {"keyword": [" Mobility ", "mobility"]}).filters == {
        "keyword": ("mobility",)
    }


def test_highlight_marks_prefixes_folds_accents_and_cuts_snippets() -> None:
    marked = highlight("Données de mobilité à Zürich", ["donnee", "zur"])
    assert marked == f"{MARK_START}Données{MARK_END} de mobilité à {MARK_START}Zürich{MARK_END}"
    assert highlight("nothing here", ["mobil"]) is None
    long_text = " ".join(f"w{i}" for i in range(100)) + " mobility " + "tail " * 50
    snippet = highlight(long_text, ["mobil"], window=10)
    assert snippet is not None
    assert snippet.startswith("…")
    assert snippet.endswith("…")
    assert f"{MARK_START}mobility{MARK_END}" in snippet
    assert len(snippet.split()) <= 11
    assert marked_html(f"<b>{MARK_START}x{MARK_END}</b>") == "&lt;b&gt;<mark>x</mark>&lt;/b&gt;"


def test_cursors_are_bound_to_their_query_and_secret() -> None:
    codec = CursorCodec(b"secret")
    query = build_query("mobility", {})
    cursor = codec.encode(query, 40)
    assert codec.decode(query, cursor) == 40
    for bad_query, bad_codec, bad_cursor in (
        (build_query("energy", {}), codec, cursor),
        (query, CursorCodec(b"another secret"), cursor),
        (query, codec, cursor[:-1]),
        (query, codec, "!!!"),
    ):
        with pytest.raises(BadRequest) as refused:
            bad_codec.decode(bad_query, bad_cursor)
        assert refused.value.code == "catalogue.invalid_cursor"
