"""JSON-LD without the network: bundled contexts only, strict expansion, RDFC-1.0."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyoxigraph
import pytest
from pyld import jsonld as pyld_jsonld

from hansa.errors import BadRequest
from hansa.identity import jsonld
from hansa.identity.jsonld import ContextLoader, canonicalize, default_loader, expand, to_nquads

VECTORS = Path(__file__).parent / "vectors" / "vc-di-eddsa"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
VC2 = "https://www.w3.org/ns/credentials/v2"
VC1 = "https://www.w3.org/2018/credentials/v1"
GX = "https://w3id.org/gaia-x/development#"


def examples_loader() -> ContextLoader:
    context = json.loads((VECTORS / "credentials-examples-v2.jsonld").read_text())
    return ContextLoader({EXAMPLES_V2: context})


def credential(**subject: Any) -> dict[str, Any]:
    return {
        "@context": [VC2],
        "id": "urn:uuid:0b4f1c2e-5d8a-4a39-9d0c-1f2e3d4c5b6a",
        "type": ["VerifiableCredential"],
        "issuer": "did:web:issuer.example",
        "validFrom": "2024-05-01T12:00:00Z",
        "credentialSubject": {"id": "did:web:holder.example", **subject},
    }


def pyld_urdna2015(document: Any, loader: ContextLoader) -> str:
    """pyld's own canonicalizer, run with the same strict loader: the independent reference."""
    options = {
        **loader.pyld_options(),
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
    }
    result: str = pyld_jsonld.normalize(document, options)
    return result


def code_of(excinfo: pytest.ExceptionInfo[BadRequest]) -> str:
    return excinfo.value.code


# --- the loader ----------------------------------------------------------------------------


def test_every_bundled_context_loads_and_parses() -> None:
    loader = ContextLoader()
    for url in loader.known_urls():
        document = loader(url, {})["document"]
        assert isinstance(document, dict)
        assert "@context" in document, url


@pytest.mark.parametrize(
    "url",
    [
        VC1,
        VC2,
        "https://w3id.org/security/data-integrity/v2",
        "https://w3id.org/security/multikey/v1",
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/suites/jws-2020/v1",
        "https://w3id.org/security/suites/ed25519-2020/v1",
        "https://w3id.org/dspace/2025/1/context.jsonld",
        "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld",
        GX,
        "https://w3id.org/gaia-x/development",
    ],
)
def test_known_contexts_are_served(url: str) -> None:
    assert url in ContextLoader().known_urls()


def test_unknown_context_is_refused_naming_the_url() -> None:
    document = {"@context": ["https://evil.example/ctx.jsonld"], "@id": "urn:x"}
    with pytest.raises(BadRequest) as excinfo:
        expand(document)
    assert code_of(excinfo) == "jsonld.unknown_context"
    assert "https://evil.example/ctx.jsonld" in excinfo.value.detail
    assert excinfo.value.extra["url"] == "https://evil.example/ctx.jsonld"


def test_unknown_context_inside_a_scoped_context_is_refused() -> None:
    document = {
        "@context": {"@vocab": "https://ex.org/#", "inner": {"@context": "https://x.example/c"}},
        "inner": {"a": "b"},
    }
    with pytest.raises(BadRequest) as excinfo:
        expand(document)
    assert code_of(excinfo) == "jsonld.unknown_context"


def test_the_loader_never_touches_pyld_global_default() -> None:
    before = pyld_jsonld.get_document_loader()
    canonicalize(credential(name="x"))
    assert pyld_jsonld.get_document_loader() is before


def test_a_poisoned_global_cache_does_not_leak_into_our_results() -> None:
    """Another module resolving the VC 2.0 URL with its own loader must not change ours."""

    def hostile_loader(url: str, options: dict[str, Any]) -> dict[str, Any]:
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": {"@context": {"@vocab": "https://evil.example/#"}},
            "tag": "static",
        }

    doc = credential(name="Alice")
    honest = canonicalize(doc)
    pyld_jsonld.expand(doc, {"documentLoader": hostile_loader})  # fills pyld's global cache
    assert canonicalize(doc) == honest
    assert "evil.example" not in honest


def test_extra_contexts_cannot_replace_bundled_ones() -> None:
    with pytest.raises(ValueError, match="bundled"):
        ContextLoader({VC2: {"@context": {}}})


def test_served_documents_are_private_copies() -> None:
    loader = ContextLoader()
    first = loader(VC2, {})["document"]
    first["@context"]["injected"] = "https://evil.example/#"
    assert "injected" not in loader(VC2, {})["document"]["@context"]


def test_context_inclusion_loop_is_refused() -> None:
    loader = ContextLoader(
        {
            "https://loop.example/a": {"@context": ["https://loop.example/b"]},
            "https://loop.example/b": {"@context": ["https://loop.example/a"]},
        }
    )
    with pytest.raises(BadRequest) as excinfo:
        expand({"@context": "https://loop.example/a", "@id": "urn:x"}, loader=loader)
    assert code_of(excinfo) == "jsonld.context_loop"


# --- input checks --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [42, True, [VC2, 7], [[VC2]], 1.5])
def test_context_values_must_be_strings_objects_or_lists(bad: Any) -> None:
    with pytest.raises(BadRequest) as excinfo:
        expand({"@context": bad, "@id": "urn:x"})
    assert code_of(excinfo) == "jsonld.invalid_context"
    assert excinfo.value.pointer is not None
    assert excinfo.value.pointer.startswith("/@context")


def test_nested_context_values_are_checked_too() -> None:
    doc = credential()
    doc["credentialSubject"]["@context"] = 5
    with pytest.raises(BadRequest) as excinfo:
        expand(doc)
    assert code_of(excinfo) == "jsonld.invalid_context"
    assert excinfo.value.pointer == "/credentialSubject/@context"


@pytest.mark.parametrize("bad", ["a string", 3, None])
def test_documents_must_be_objects_or_arrays(bad: Any) -> None:
    with pytest.raises(BadRequest) as excinfo:
        expand(bad)
    assert code_of(excinfo) == "jsonld.invalid_document"


def test_deep_nesting_is_refused_before_pyld_recurses() -> None:
    node: dict[str, Any] = {"v": "leaf"}
    for _ in range(jsonld.MAX_DEPTH + 5):
        node = {"n": node}
    with pytest.raises(BadRequest) as excinfo:
        expand({"@context": {"@vocab": "https://ex.org/#"}, **node})
    assert code_of(excinfo) == "jsonld.too_deep"


# --- strictness ----------------------------------------------------------------------------


def test_undefined_property_is_an_error_not_dropped() -> None:
    doc = {
        "@context": [VC1],
        "id": "urn:uuid:1",
        "type": ["VerifiableCredential"],
        "issuer": "did:web:issuer.example",
        "issuanceDate": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:web:h.example", "favouriteColour": "blue"},
    }
    with pytest.raises(BadRequest) as excinfo:
        canonicalize(doc)
    assert code_of(excinfo) == "jsonld.undefined_term"
    assert "favouriteColour" in excinfo.value.detail


def test_undefined_type_is_an_error() -> None:
    doc = {
        "@context": [VC1],
        "id": "urn:uuid:1",
        "type": ["VerifiableCredential", "MadeUpCredential"],
        "issuer": "did:web:issuer.example",
        "issuanceDate": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:web:h.example"},
    }
    with pytest.raises(BadRequest) as excinfo:
        expand(doc)
    assert code_of(excinfo) == "jsonld.undefined_term"
    assert "MadeUpCredential" in excinfo.value.detail


def test_term_mapped_to_null_is_an_error() -> None:
    doc = {"@context": {"@vocab": "https://ex.org/#", "secret": None}, "secret": "x", "a": 1}
    with pytest.raises(BadRequest) as excinfo:
        expand(doc)
    assert code_of(excinfo) == "jsonld.undefined_term"


def test_relative_id_is_an_error() -> None:
    doc = credential()
    doc["credentialSubject"]["id"] = "holder-without-scheme"
    with pytest.raises(BadRequest) as excinfo:
        canonicalize(doc)
    assert code_of(excinfo) == "jsonld.relative_iri"


def test_undefined_term_under_vc2_is_an_error() -> None:
    with pytest.raises(BadRequest) as excinfo:
        canonicalize(credential(favouriteColour="blue"))
    assert code_of(excinfo) == "jsonld.undefined_term"


def test_terms_defined_by_an_inline_vocab_are_kept() -> None:
    doc = credential(favouriteColour="blue")
    doc["@context"] = [VC2, {"@vocab": "https://vocab.example/#"}]
    assert "<https://vocab.example/#favouriteColour>" in canonicalize(doc)


def test_iri_that_would_break_nquads_is_refused() -> None:
    """An id with '>' could inject a quad if N-Quads were written and re-parsed as text."""
    doc = credential()
    doc["credentialSubject"]["id"] = "urn:x><urn:p><urn:o>.<urn:y"
    with pytest.raises(BadRequest) as excinfo:
        canonicalize(doc)
    assert code_of(excinfo) == "jsonld.invalid_rdf"


def test_invalid_json_ld_maps_to_jsonld_invalid() -> None:
    doc = {"@context": {"@vocab": "https://ex.org/#"}, "@id": 5}
    with pytest.raises(BadRequest) as excinfo:
        expand(doc)
    assert code_of(excinfo) == "jsonld.invalid"


# --- output --------------------------------------------------------------------------------


def test_w3c_vector_credential_canonical_form_and_hash() -> None:
    document = json.loads((VECTORS / "credential.json").read_text())
    canonical = canonicalize(document, loader=examples_loader())
    assert canonical == (VECTORS / "credential.nq").read_text()
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert digest == (VECTORS / "credential.sha256").read_text().strip()


def test_nquads_are_sorted_lines_ending_in_newline() -> None:
    nquads = to_nquads(credential(name="Alice"))
    lines = nquads.splitlines(keepends=True)
    assert lines == sorted(lines)
    assert all(line.endswith(" .\n") for line in lines)


def test_expand_keeps_datetime_with_z() -> None:
    expanded = expand(credential())
    valid_from = expanded[0]["https://www.w3.org/2018/credentials#validFrom"][0]
    assert valid_from == {
        "@type": "http://www.w3.org/2001/XMLSchema#dateTime",
        "@value": "2024-05-01T12:00:00Z",
    }


def gaia_x_participant() -> dict[str, Any]:
    return {
        "@context": [VC2, GX],
        "id": "https://participant.example/credentials/legal-person",
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "issuer": "did:web:participant.example",
        "validFrom": "2025-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "https://participant.example/legal-person#subject",
            "type": "gx:LegalPerson",
            "gx:legalName": "Hansa Test GmbH",
            "gx:registrationNumber": {"id": "https://participant.example/lrn#subject"},
            "gx:headquartersAddress": {"type": "gx:Address", "gx:countryCode": "DE"},
        },
    }


def presentation() -> dict[str, Any]:
    return {
        "@context": [VC2],
        "type": ["VerifiablePresentation"],
        "holder": "did:web:holder.example",
        "verifiableCredential": [
            credential(name="Alice", description={"@value": "Kundin", "@language": "de"}),
            {**credential(name="Bob"), "id": "urn:uuid:2"},
        ],
    }


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(credential(name="Alice"), id="vc2"),
        pytest.param(
            credential(
                name="Zoë «ünïcödé» 😀", description='quote " backslash \\ newline \n tab \t'
            ),
            id="escapes",
        ),
        pytest.param(gaia_x_participant(), id="gaia-x"),
        pytest.param(presentation(), id="presentation-named-graphs"),
        pytest.param(
            {
                "@context": {"@vocab": "https://ex.org/#"},
                "n": [{"v": 1}, {"v": 1}, {"w": 1.5, "b": True, "when": "2024-01-01T00:00:00Z"}],
            },
            id="twin-blank-nodes",
        ),
    ],
)
def test_pyoxigraph_rdfc10_agrees_with_pyld_urdna2015(document: dict[str, Any]) -> None:
    loader = default_loader()
    assert canonicalize(document, loader=loader) == pyld_urdna2015(document, loader)


def test_datetime_z_survives_canonicalization() -> None:
    canonical = canonicalize(credential())
    assert '"2024-05-01T12:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime>' in canonical


def test_control_characters_are_escaped_as_rdfc10_requires() -> None:
    """RDFC-1.0 canonical N-Quads escape control characters (\\b, \\f, \\u0001, \\u007F).

    pyld 3.3 writes them raw (the older URDNA2015 form), so here pyoxigraph is the reference.
    """
    canonical = canonicalize(credential(name="a\u0001b\u007fc\bd\fe"))
    assert '"a\\u0001b\\u007Fc\\bd\\fe"' in canonical


def test_gaia_x_terms_expand_into_the_gx_namespace() -> None:
    canonical = canonicalize(gaia_x_participant())
    assert "<https://w3id.org/gaia-x/development#legalName>" in canonical
    assert "<https://w3id.org/gaia-x/development#LegalPerson>" in canonical


# --- @import ----------------------------------------------------------------------------------

DSP = "https://w3id.org/dspace/2025/1/context.jsonld"
ODRL_PROFILE = "https://w3id.org/dspace/2025/1/odrl-profile.jsonld"


def dsp_message(kind: str) -> dict[str, Any]:
    return {
        "@context": [DSP],
        "@id": f"urn:message:{kind}",
        "@type": kind,
        "callbackAddress": "https://consumer.example/callback",
        "providerPid": "urn:provider:1",
        "consumerPid": "urn:consumer:1",
        "offer": {"@id": "urn:offer:1", "@type": "Offer", "target": "urn:dataset:1"},
    }


def test_a_dsp_message_does_not_change_the_odrl_profile_for_later_documents() -> None:
    """pyld merges @import into its cached copy of the imported context; Hansa must not."""
    loader = ContextLoader()
    odrl_only = {
        "@context": [ODRL_PROFILE],
        "@id": "urn:x",
        "@type": "Offer",
        "callbackAddress": "https://cb.example/",
    }
    for _ in range(2):
        with pytest.raises(BadRequest) as excinfo:
            canonicalize(odrl_only, loader=loader)
        assert code_of(excinfo) == "jsonld.undefined_term"
        canonicalize(dsp_message("ContractRequestMessage"), loader=loader)
        canonicalize(dsp_message("ContractOfferMessage"), loader=loader)


def test_dsp_messages_do_not_depend_on_what_was_processed_before() -> None:
    kinds = ["ContractRequestMessage", "ContractOfferMessage"]
    alone = {kind: canonicalize(dsp_message(kind), loader=ContextLoader()) for kind in kinds}
    shared = ContextLoader()
    for kind in [*kinds, *reversed(kinds)]:
        assert canonicalize(dsp_message(kind), loader=shared) == alone[kind]
        assert pyld_canonical(dsp_message(kind), shared) == alone[kind]


def pyld_canonical(document: Any, loader: ContextLoader) -> str:
    dataset = jsonld.pyld_dataset(document, loader=loader)
    dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
    return "".join(sorted(f"{quad} .\n" for quad in dataset))


def import_loader() -> ContextLoader:
    base = "https://import.example/base"
    return ContextLoader(
        {
            base: {"@context": {"a": "https://base.example/a", "b": "https://base.example/b"}},
            "https://import.example/top": {
                "@context": {"@import": base, "b": "https://top.example/b"}
            },
            "https://import.example/loop-b": {
                "@context": {
                    "t": {"@id": "urn:t", "@context": {"@import": "https://import.example/loop-c"}}
                }
            },
            "https://import.example/loop-c": {
                "@context": {
                    "u": {"@id": "urn:u", "@context": {"@import": "https://import.example/loop-b"}}
                }
            },
        }
    )


@pytest.mark.parametrize(
    "context",
    [
        "https://import.example/top",
        {"@import": "https://import.example/base", "b": "https://top.example/b"},
    ],
)
def test_import_merges_the_imported_context_with_the_importing_entries_winning(
    context: Any,
) -> None:
    loader = import_loader()
    document = {"@context": context, "@id": "urn:x", "a": "1", "b": "2"}
    canonical = canonicalize(document, loader=loader)
    assert '<urn:x> <https://base.example/a> "1" .\n' in canonical
    assert '<urn:x> <https://top.example/b> "2" .\n' in canonical
    assert pyld_canonical(document, loader) == canonical


def test_import_loop_through_scoped_contexts_is_refused() -> None:
    document = {"@context": {"@import": "https://import.example/loop-b"}, "@id": "urn:x"}
    with pytest.raises(BadRequest) as excinfo:
        canonicalize(document, loader=import_loader())
    assert code_of(excinfo) == "jsonld.context_loop"


def test_import_of_an_unknown_context_is_refused() -> None:
    document = {"@context": {"@import": "https://unknown.example/c"}, "@id": "urn:x", "a": 1}
    with pytest.raises(BadRequest) as excinfo:
        canonicalize(document, loader=import_loader())
    assert code_of(excinfo) == "jsonld.unknown_context"
