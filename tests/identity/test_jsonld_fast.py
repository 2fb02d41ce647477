"""The fast JSON-LD path against pyld: the same canonical RDF, or it steps aside.

Every document here goes through both :func:`hansa.identity.jsonld.pyld_dataset` (the
reference) and :func:`hansa.identity.jsonld_fast.fast_dataset`. Where pyld refuses a
document, the fast path must give ``None`` (so the caller raises pyld's error); where
pyld accepts it, the fast path must give ``None`` or the same RDFC-1.0 N-Quads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyoxigraph
import pytest

from hansa.errors import BadRequest
from hansa.identity.did import build_did_document
from hansa.identity.jsonld import (
    MAX_DEPTH,
    RELATIVE_BASE,
    ContextLoader,
    canonicalize,
    default_loader,
    pyld_dataset,
)
from hansa.identity.jsonld_fast import fast_dataset
from hansa.identity.keys import generate_private_key

VECTORS = Path(__file__).parent / "vectors" / "vc-di-eddsa"
VC2 = "https://www.w3.org/ns/credentials/v2"
VC1 = "https://www.w3.org/2018/credentials/v1"
DI = "https://w3id.org/security/data-integrity/v2"
GX = "https://w3id.org/gaia-x/development#"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"


def examples_loader() -> ContextLoader:
    context = json.loads((VECTORS / "credentials-examples-v2.jsonld").read_text())
    return ContextLoader({EXAMPLES_V2: context})


LOADER = examples_loader()


def vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def credential(**subject: Any) -> dict[str, Any]:
    return {
        "@context": [VC2],
        "id": "urn:uuid:0b4f1c2e-5d8a-4a39-9d0c-1f2e3d4c5b6a",
        "type": ["VerifiableCredential"],
        "issuer": "did:web:issuer.example",
        "validFrom": "2024-05-01T12:00:00Z",
        "credentialSubject": {"id": "did:web:holder.example", **subject},
    }


def proof_config(**extra: Any) -> dict[str, Any]:
    return {
        "@context": [VC2],
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2025-01-01T00:00:00Z",
        "verificationMethod": "did:web:issuer.example#key-1",
        "proofPurpose": "assertionMethod",
        **extra,
    }


def gaia_x() -> dict[str, Any]:
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


def bases() -> dict[str, dict[str, Any]]:
    """Documents pyld accepts, from the other tests and the W3C vectors."""
    signed = vector("signed-credential.json")
    del signed["proof"]
    did_document = dict(
        build_did_document("did:web:x.example", [("key-1", generate_private_key())])
    )
    return {
        "vc2": credential(name="Alice", description="A person"),
        "vc2-escapes": credential(name="Zoë «ü» 😀", description='q " b \\ n \n t \t \u0001'),
        "vc2-numbers": {
            **credential(age=42, member=True, debt=-5, zero=0, off=False),
            "@context": [VC2, {"@vocab": "https://vocab.example/#"}],
        },
        "vc1": {
            "@context": [VC1, DI],
            "id": "urn:uuid:1",
            "type": ["VerifiableCredential"],
            "issuer": "did:web:issuer.example",
            "issuanceDate": "2024-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:web:h.example"},
        },
        "vc1-string-context": {
            "@context": VC1,
            "type": "VerifiableCredential",
            "issuer": {"id": "did:web:issuer.example"},
            "issuanceDate": "2024-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:web:h.example"},
        },
        "proof-config": proof_config(),
        "proof-config-bound": proof_config(
            challenge="nonce-1", domain="https://verifier.example", expires="2030-01-01T00:00:00Z"
        ),
        "proof-config-auth": proof_config(proofPurpose="authentication"),
        "proof-config-di": {**proof_config(), "@context": [VC1, DI]},
        "gaia-x": gaia_x(),
        "vocab": {
            "@context": [VC2, {"@vocab": "https://vocab.example/#"}],
            "type": "VerifiableCredential",
            "credentialSubject": {"favouriteColour": "blue"},
        },
        "presentation": {
            "@context": [VC2],
            "type": ["VerifiablePresentation"],
            "holder": "did:web:holder.example",
            "verifiableCredential": [credential(name="Alice")],
        },
        "presentation-signed": {
            "@context": [VC2],
            "type": ["VerifiablePresentation"],
            "holder": {"id": "did:web:holder.example"},
            "verifiableCredential": [vector("signed-credential.json"), credential(name="Bob")],
        },
        "dsp-offer": {
            "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
            "@id": "urn:message:1",
            "@type": "ContractOfferMessage",
            "callbackAddress": "https://consumer.example/callback",
            "providerPid": "urn:provider:1",
            "offer": {"@id": "urn:offer:1", "@type": "Offer", "target": "urn:dataset:1"},
        },
        "w3c-credential": vector("credential.json"),
        "w3c-proof-options": vector("proof-options.json"),
        "w3c-signed-unsecured": signed,
        "did-document": did_document,
        "twin-blank-nodes": {
            "@context": [VC2],
            "type": "VerifiableCredential",
            "credentialSubject": [{"name": "x"}, {"name": "x"}, {}],
        },
    }


# Documents the fast path must take (they are what a verifier sees most).
FAST = {"vc2", "vc2-escapes", "vc1", "proof-config", "proof-config-bound", "gaia-x"}
FAST |= {"w3c-credential", "w3c-proof-options", "w3c-signed-unsecured", "proof-config-di"}
FAST |= {"presentation", "presentation-signed", "vocab", "vc2-numbers", "twin-blank-nodes"}


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        target: Any = document
        for step in path[:-1]:
            target = target.get(step) if isinstance(target, dict) else None
            if isinstance(target, list):
                target = target[0] if target else None
            if not isinstance(target, dict):
                return
        target[path[-1]] = copy.deepcopy(value)

    return apply


SUBJECT = ("credentialSubject",)
EMBEDDED = ("verifiableCredential",)
MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {}
for where, prefix in (("top", ()), ("subject", SUBJECT), ("embedded", EMBEDDED)):
    for name, key, value in [
        ("undefined-term", "shoeSize", 42),
        ("null", "name", None),
        ("float", "name", 1.5),
        ("int", "name", 7),
        ("big-int", "name", 10**22),
        ("bool", "name", True),
        ("empty-object", "name", {}),
        ("empty-list", "name", []),
        ("nested-list", "name", [["a"]]),
        ("mixed-list", "name", ["a", 1, False, {"id": "urn:x"}]),
        ("language", "name", {"@value": "Kundin", "@language": "de"}),
        ("typed-value", "name", {"@value": "x", "@type": "urn:t"}),
        ("value-object", "description", {"@value": "x"}),
        ("relative-id", "id", "no-scheme"),
        ("blank-id", "id", "_:b1"),
        ("id-not-string", "id", 5),
        ("id-with-bracket", "id", "urn:x><urn:p><urn:o>.<urn:y"),
        ("iri-with-space", "id", "urn:a b"),
        ("unknown-type", "type", "MadeUp"),
        ("type-not-string", "type", [5]),
        ("blank-type", "type", "_:t"),
        ("absolute-type", "type", ["VerifiableCredential", "https://ex.org/T"]),
        ("absolute-key", "https://ex.org/p", "v"),
        ("compact-key-unknown-prefix", "nope:p", "v"),
        ("compact-key-schema", "schema:name", "v"),
        ("blank-key", "_:p", "v"),
        ("at-id-too", "@id", "urn:other"),
        ("at-type-too", "@type", "VerifiableCredential"),
        ("nested-context", "@context", {"@vocab": "https://ex.org/#"}),
        ("graph", "@graph", [{"id": "urn:g"}]),
        ("reverse", "@reverse", {"https://ex.org/p": {"id": "urn:r"}}),
        ("included", "@included", [{"id": "urn:i"}]),
        ("nest", "@nest", {"name": "n"}),
        ("index", "@index", "i"),
        ("scoped-context-node", "credentialSubject", {"@context": {"x": "urn:x"}, "x": 1}),
        ("node-reference", "credentialSubject", {"id": "did:web:ref.example"}),
        ("nested-node", "evidence", {"type": "Evidence", "id": "urn:e", "name": "n"}),
        ("proof-purpose-unknown", "proofPurpose", "noSuchPurpose"),
        ("proof-purpose-iri", "proofPurpose", "https://ex.org/purpose"),
        ("verification-method-relative", "verificationMethod", "key-1"),
        ("created-number", "created", 5),
        ("keyword-key", "@language", "de"),
    ]:
        MUTATIONS[f"{where}-{name}"] = _set((*prefix, key), value)
MUTATIONS["context-inline-object"] = lambda d: d.update({"@context": {"@vocab": "urn:v#"}})
MUTATIONS["context-number"] = lambda d: d.update({"@context": [VC2, 5]})
MUTATIONS["context-unknown"] = lambda d: d.update({"@context": [VC2, "https://evil.example/c"]})
MUTATIONS["context-relative"] = lambda d: d.update({"@context": ["ctx.jsonld"]})
MUTATIONS["context-empty"] = lambda d: d.update({"@context": []})
MUTATIONS["context-missing"] = lambda d: d.pop("@context", None)
MUTATIONS["context-twice"] = lambda d: d.update({"@context": [VC2, VC2]})
MUTATIONS["context-vc1-after-vc2"] = lambda d: d.update({"@context": [VC2, VC1]})
MUTATIONS["embedded-context-null"] = _set((*EMBEDDED, "@context"), None)
MUTATIONS["embedded-context-vc1"] = _set((*EMBEDDED, "@context"), [VC1])
MUTATIONS["embedded-context-number"] = _set((*EMBEDDED, "@context"), [VC2, 5])
MUTATIONS["embedded-context-unknown"] = _set((*EMBEDDED, "@context"), ["https://evil.example/c"])
MUTATIONS["embedded-proof-undefined"] = _set((*EMBEDDED, "proof", "smuggled"), "x")
MUTATIONS["embedded-string"] = _set(EMBEDDED, "urn:uuid:just-an-id")
MUTATIONS["embedded-no-context"] = lambda d: [
    vc.pop("@context", None) for vc in d.get("verifiableCredential", []) if isinstance(vc, dict)
]


def cases() -> Iterator[Any]:
    for base_name, document in bases().items():
        yield pytest.param(document, id=base_name)
        for mutation_name, mutate in MUTATIONS.items():
            mutated = copy.deepcopy(document)
            mutate(mutated)
            if mutated != document:
                yield pytest.param(mutated, id=f"{base_name}+{mutation_name}")


def canonical(dataset: Any) -> str:
    dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
    return "".join(sorted(f"{quad} .\n" for quad in dataset))


def fast(document: Any, loader: ContextLoader = LOADER) -> Any:
    return fast_dataset(document, loader, base=RELATIVE_BASE, max_depth=MAX_DEPTH)


@pytest.mark.parametrize("document", list(cases()))
def test_fast_path_agrees_with_pyld_or_steps_aside(document: Any) -> None:
    try:
        reference = canonical(pyld_dataset(copy.deepcopy(document), loader=LOADER))
    except BadRequest:
        assert fast(document) is None, "pyld refuses this document; the fast path must too"
        return
    result = fast(document)
    if result is not None:
        assert canonical(result) == reference


@pytest.mark.parametrize("name", sorted(FAST))
def test_plain_credentials_take_the_fast_path(name: str) -> None:
    assert fast(bases()[name]) is not None


def test_w3c_vector_through_the_fast_path() -> None:
    document = vector("credential.json")
    assert fast(document) is not None
    assert canonicalize(document, loader=LOADER) == (VECTORS / "credential.nq").read_text()


def test_fast_path_does_not_touch_its_input() -> None:
    document = gaia_x()
    before = copy.deepcopy(document)
    fast(document)
    assert document == before


def test_each_loader_has_its_own_contexts() -> None:
    """A context another loader serves is unknown to the default loader, cached or not."""
    document = vector("credential.json")
    assert fast(document, LOADER) is not None
    assert fast(document, default_loader()) is None
    with pytest.raises(BadRequest) as excinfo:
        canonicalize(document)
    assert excinfo.value.code == "jsonld.unknown_context"


def test_deep_documents_step_aside_before_recursing() -> None:
    node: dict[str, Any] = {"name": "leaf"}
    for _ in range(MAX_DEPTH + 5):
        node = {"type": "VerifiableCredential", "credentialSubject": node}
    assert fast({"@context": [VC2], **node}) is None


# --- random documents ------------------------------------------------------------------------

CONTEXTS: list[Any] = [
    [VC2],
    [VC2, GX],
    [VC1, DI],
    [VC2, EXAMPLES_V2],
    [VC2, {"@vocab": "https://vocab.example/#"}],
    [VC2, {"ex": "https://ex.org/#", "score": {"@id": "ex:score", "@type": "ex:Score"}}],
    {"@vocab": "https://vocab.example/#", "@base": "https://base.example/"},
]
KEYS = [
    "id", "type", "name", "description", "issuer", "validFrom", "credentialSubject",
    "evidence", "proof", "holder", "verifiableCredential", "gx:legalName", "gx:countryCode",
    "alumniOf", "score", "ex:other", "https://abs.example/p", "undefinedTerm", "@id", "@type",
    "challenge", "created", "proofPurpose", "verificationMethod", "cryptosuite", "termsOfUse",
]  # fmt: skip
TYPES = [
    "VerifiableCredential", "VerifiablePresentation", "DataIntegrityProof", "gx:LegalPerson",
    "ExampleAlumniCredential", "MadeUpType", "https://abs.example/T", "Evidence",
]  # fmt: skip
SCALARS: list[Any] = [
    "text", "did:web:x.example", "urn:uuid:1", "relative", "2024-01-01T00:00:00Z",
    "assertionMethod", "gx:Thing", "_:b0", 0, 7, -3, True, False, 1.5, None, "",
]  # fmt: skip


def random_node(rng: Any, depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for key in rng.sample(KEYS, rng.randint(0, 5)):
        if key in ("type", "@type"):
            node[key] = rng.sample(TYPES, rng.randint(1, 2))
        elif key in ("id", "@id"):
            node[key] = rng.choice([f"urn:uuid:n{rng.randint(0, 3)}", "did:web:a.example"])
        else:
            node[key] = random_value(rng, depth)
    if depth > 0 and rng.random() < 0.1:
        node["@context"] = copy.deepcopy(rng.choice(CONTEXTS))
    return node


def random_value(rng: Any, depth: int) -> Any:
    roll = rng.random()
    if roll < 0.3 and depth < 3:
        return random_node(rng, depth + 1)
    if roll < 0.4:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(SCALARS)


def random_documents(count: int, seed: int) -> list[dict[str, Any]]:
    import random

    rng = random.Random(seed)
    documents = []
    for _ in range(count):
        document = random_node(rng, 0)
        document["@context"] = copy.deepcopy(rng.choice(CONTEXTS))
        documents.append(document)
    return documents


def test_random_documents_agree_with_pyld() -> None:
    compared = 0
    for document in random_documents(600, seed=20261127):
        try:
            reference = canonical(pyld_dataset(copy.deepcopy(document), loader=LOADER))
        except BadRequest:
            assert fast(document) is None, document
            continue
        result = fast(document)
        if result is not None:
            assert canonical(result) == reference, document
            compared += 1
    assert compared > 50  # the generator must keep reaching the fast path


def test_concurrent_use_gives_the_same_results() -> None:
    from concurrent.futures import ThreadPoolExecutor

    documents = [bases()[name] for name in sorted(FAST)] * 8
    expected = [canonicalize(document, loader=LOADER) for document in documents]
    fresh = examples_loader()  # empty memos, filled by all threads at once
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda d: canonicalize(d, loader=fresh), documents))
    assert results == expected


def test_memos_start_over_past_their_budget_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hansa.identity import jsonld_fast

    documents = [bases()[name] for name in sorted(FAST)]
    expected = [canonicalize(document, loader=LOADER) for document in documents]
    monkeypatch.setattr(jsonld_fast, "_BUDGET", 3 * jsonld_fast._CONTEXT_COST)
    small = examples_loader()
    for _ in range(3):
        assert [canonicalize(d, loader=small) for d in documents] == expected
    state = jsonld_fast._state(small, RELATIVE_BASE)
    assert state.spent <= 3 * jsonld_fast._CONTEXT_COST
    assert len(state.compiled) <= 3
