"""Hansa's SHACL checker against pyshacl (the reference) on valid and broken credentials.

Every supported Gaia-X type, valid and with one thing broken at a time, goes through
ShapeValidator (built-in and official shapes) and through pyshacl with the official 25.11
bundle; the verdicts (conforms or not) must agree. pyshacl sees the same credential subjects,
turned into RDF by pyld alone (not Hansa's fast path), on plain rdflib graphs, with the
Gaia-X class hierarchy as its ontology graph, as SHACL's sh:class needs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from hansa.compliance import gx_examples as examples
from hansa.compliance.shapes import GX_CLASSES, ShapeValidator
from hansa.identity.jsonld import pyld_dataset
from spec_paths import SPEC

rdflib = pytest.importorskip("rdflib")
pyshacl = pytest.importorskip("pyshacl")

OFFICIAL = SPEC / "gaia-x-25.11" / "gx.shacl.ttl"
pytestmark = pytest.mark.skipif(not OFFICIAL.exists(), reason="Gaia-X 25.11 spec copy missing")

Pairs = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def official_graph() -> Any:
    return rdflib.Graph().parse(OFFICIAL)


@pytest.fixture(scope="module")
def classes_graph() -> Any:
    return rdflib.Graph().parse(GX_CLASSES)


@pytest.fixture(scope="module")
def official() -> ShapeValidator:
    return ShapeValidator.official(OFFICIAL)


def pyshacl_conforms(pairs: Pairs, shapes: Any, classes: Any) -> bool:
    """pyshacl's verdict on the credentials' subjects (RDF from pyld alone, plain rdflib)."""
    data = rdflib.Graph()
    for _, credential in pairs:
        subject = credential["credentialSubject"]
        dataset = pyld_dataset({"@context": credential["@context"], **subject})
        triples = "".join(f"{q.subject} {q.predicate} {q.object} .\n" for q in dataset)
        data.parse(data=triples, format="nt")
    conforms, _, _ = pyshacl.validate(
        data, shacl_graph=shapes, ont_graph=classes, inference="none", allow_warnings=False
    )
    return bool(conforms)


# --- broken variants: (name, example set, change to the first credential's subject) -------


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda subject: subject.pop(key)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(subject: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = subject
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _in(collection: str, index: int) -> Callable[[], Pairs]:
    """The example set ``collection`` with credential ``index`` moved to the front."""

    def build() -> Pairs:
        pairs = getattr(examples, collection)()
        return [pairs[index], *pairs[:index], *pairs[index + 1 :]]

    return build


EXAMPLE_SETS = [
    "participant",
    "registration_numbers",
    "service_offering",
    "data_product",
    "resources",
    "label",
]

BROKEN: list[tuple[str, Callable[[], Pairs], Callable[[dict[str, Any]], None]]] = [
    # LegalPerson and Address
    ("lp-no-legal-address", _in("participant", 0), _drop("gx:legalAddress")),
    ("lp-bad-country", _in("participant", 0), _set("gx:legalAddress/gx:countryCode", "XX")),
    ("lp-numeric-country", _in("participant", 0), _set("gx:legalAddress/gx:countryCode", 276)),
    ("lp-bad-region", _in("participant", 0), _set("gx:legalAddress/vcard:region", "DE99")),
    ("lp-untyped-address", _in("participant", 0), _set("gx:legalAddress/type", "gx:GPSLocation")),
    ("lp-extra-property", _in("participant", 0), _set("gx:bogus", "x")),
    ("lp-name-not-string", _in("participant", 0), _set("name", 42)),
    ("lp-unknown-reg-number", _in("participant", 0), _set("gx:registrationNumber/0/id", "urn:x:1")),
    ("lp-no-reg-number", _in("participant", 0), _drop("gx:registrationNumber")),
    (
        "lp-two-hq",
        _in("participant", 0),
        _set("gx:headquartersAddress", [{"type": "gx:Address", "gx:countryCode": "DE"}] * 2),
    ),
    # registration numbers
    ("vat-missing", _in("registration_numbers", 0), _drop("gx:vatID")),
    ("vat-bad-country", _in("registration_numbers", 0), _set("gx:countryCode", "ZZ")),
    ("vat-integer", _in("registration_numbers", 0), _set("gx:vatID", 123456789)),
    # (a value missing from a long sh:in list costs pyshacl minutes to report: the 5,000
    # subdivision codes and 1,900 MIME types are checked in test_shapes.py instead)
    ("lei-country", _in("registration_numbers", 1), _set("gx:countryCode", "EU")),
    ("lei-missing", _in("registration_numbers", 1), _drop("schema:leiCode")),
    ("eori-missing", _in("registration_numbers", 2), _drop("gx:eori")),
    ("euid-extra", _in("registration_numbers", 3), _set("gx:vatID", "DE1")),
    ("taxid-number", _in("registration_numbers", 4), _set("schema:taxID", 7)),
    ("local-missing", _in("registration_numbers", 5), _drop("gx:local")),
    # Issuer (the hash must be one of Gaia-X's in the official shape)
    ("issuer-missing-hash", _in("participant", 3), _drop("gx:gaiaxTermsAndConditions")),
    ("issuer-not-hash", _in("participant", 3), _set("gx:gaiaxTermsAndConditions", "nothex")),
    # ServiceOffering
    ("so-no-provider", _in("service_offering", 0), _drop("gx:providedBy")),
    ("so-provider-not-lp", _in("service_offering", 0), _set("gx:providedBy", {"id": "urn:x:2"})),
    (
        "so-terms-url-string",
        _in("service_offering", 0),
        _set("gx:serviceOfferingTermsAndConditions/0/gx:url", "https://x.example/t"),
    ),
    ("so-provision", _in("service_offering", 0), _set("gx:provisionType", "shared")),
    ("so-regime", _in("service_offering", 0), _set("gx:dataProtectionRegime", ["GDPR"])),
    ("so-no-terms", _in("service_offering", 0), _drop("gx:serviceOfferingTermsAndConditions")),
    # DataProduct
    ("dp-no-description", _in("data_product", 0), _drop("gx:dataProductDescription")),
    (
        "dp-parameter-no-values",
        _in("data_product", 0),
        lambda s: s["gx:dataProductDescription"]["gx:dataProductConfigurationParameters"][0].pop(
            "gx:parameterAdmissibleValues"
        ),
    ),
    ("dp-launch-date-int", _in("data_product", 0), _set("gx:digitalServiceOfferingLaunchDate", 1)),
    (
        "dp-legal-document-no-url",
        _in("data_product", 0),
        lambda s: s["gx:digitalServiceLegalDocuments"][0].pop("gx:url"),
    ),
    # resources
    ("vr-license", _in("resources", 0), _set("gx:license", ["NOT-A-LICENCE"])),
    ("vr-owner-number", _in("resources", 0), _set("gx:copyrightOwnedBy", [42])),
    ("vr-no-policy", _in("resources", 0), _drop("gx:resourcePolicy")),
    ("sr-no-license", _in("resources", 1), _drop("gx:license")),
    ("pr-location-untyped", _in("resources", 2), _set("gx:location/0/type", "gx:Endpoint")),
    ("pr-no-maintainer", _in("resources", 2), _drop("gx:maintainedBy")),
    # LabelCredential
    ("label-level", _in("label", 0), _set("gx:labelLevel", "L4")),
    ("label-no-engine", _in("label", 0), _drop("gx:engineVersion")),
    (
        "label-digest-untyped",
        _in("label", 0),
        _set("gx:compliantCredentials/0/digestSRI", {"@value": "sha256-x"}),
    ),
    ("label-no-criteria", _in("label", 0), _drop("gx:validatedCriteria")),
]


def _broken(build: Callable[[], Pairs], change: Callable[[dict[str, Any]], None]) -> Pairs:
    pairs = copy.deepcopy(build())
    change(pairs[0][1]["credentialSubject"])
    return pairs


ISSUER_OWN_TERMS = (
    "issuer-own-terms",
    _in("participant", 3),
    _set("gx:gaiaxTermsAndConditions", "b" * 64),
)


@pytest.fixture(scope="module")
def reference(official_graph: Any, classes_graph: Any) -> Callable[[Pairs], bool]:
    return lambda pairs: pyshacl_conforms(pairs, official_graph, classes_graph)


@pytest.mark.parametrize("collection", EXAMPLE_SETS)
def test_valid_examples_conform_everywhere(
    collection: str, official: ShapeValidator, reference: Callable[[Pairs], bool]
) -> None:
    pairs = getattr(examples, collection)()
    assert reference(pairs) is True
    assert official.validate(pairs) == []
    assert ShapeValidator.builtin().validate(pairs) == []


@pytest.mark.parametrize(("name", "build", "change"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_variants_agree_with_pyshacl(
    name: str,
    build: Callable[[], Pairs],
    change: Callable[[dict[str, Any]], None],
    official: ShapeValidator,
    reference: Callable[[Pairs], bool],
) -> None:
    pairs = _broken(build, change)
    ours = official.validate(pairs)
    builtin = ShapeValidator.builtin().validate(pairs)
    verdict = reference(pairs)
    assert verdict is False, f"{name}: the variant should break an official shape"
    assert (ours == []) is verdict, [v.to_json() for v in ours]
    assert (builtin == []) is verdict, [v.to_json() for v in builtin]
    # Every violation points into the credential that was changed, at a real JSON field.
    broken_id = pairs[0][0]
    assert any(v.credential == broken_id for v in ours)
    assert all(v.path.startswith("/credentialSubject") and "_:" not in v.path for v in ours)


def test_issuer_hash_of_other_terms_official_only(
    official: ShapeValidator, reference: Callable[[Pairs], bool]
) -> None:
    """The one deliberate difference: built-in shapes accept the federation's own T&C hash."""
    _, build, change = ISSUER_OWN_TERMS
    pairs = _broken(build, change)
    assert reference(pairs) is False
    assert [v.rule for v in official.validate(pairs)] == [
        "gx:IssuerShape/gx:gaiaxTermsAndConditions"
    ]
    assert ShapeValidator.builtin().validate(pairs) == []
