"""ShapeValidator: what a broken credential is told (where, which rule, how to fix it)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hansa.compliance import gx_examples as examples
from hansa.compliance.shapes import BUILTIN_SHAPES, ShapeRegistry, ShapeValidator
from hansa.compliance.violations import Violation
from hansa.errors import BadRequest
from spec_paths import SPEC

OFFICIAL = SPEC / "gaia-x-25.11" / "gx.shacl.ttl"
GX = "https://w3id.org/gaia-x/development#"
needs_official = pytest.mark.skipif(not OFFICIAL.exists(), reason="Gaia-X 25.11 spec copy missing")

Pairs = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def builtin() -> ShapeValidator:
    return ShapeValidator.builtin()


@pytest.fixture(scope="module")
def official() -> ShapeValidator:
    if not OFFICIAL.exists():
        pytest.skip("Gaia-X 25.11 spec copy missing")
    return ShapeValidator.official(OFFICIAL)


def participant() -> Pairs:
    return copy.deepcopy(examples.participant())


def subject(pairs: Pairs, index: int = 0) -> dict[str, Any]:
    return pairs[index][1]["credentialSubject"]


def only(violations: list[Violation]) -> Violation:
    assert len(violations) == 1, [v.to_json() for v in violations]
    return violations[0]


# --- the report ---------------------------------------------------------------------------


def test_missing_required_property(builtin: ShapeValidator) -> None:
    pairs = participant()
    del subject(pairs)["gx:legalAddress"]
    violation = only(builtin.validate(pairs))
    assert violation.credential == "https://participant.example.org/legal-person"
    assert violation.path == "/credentialSubject/gx:legalAddress"
    assert violation.rule == "gx:LegalPersonShape/gx:legalAddress"
    assert "at least 1 value required" in violation.message
    assert violation.fix.startswith("add gx:legalAddress")
    assert '"type": "gx:Address"' in violation.fix


def test_bad_country_code_points_into_the_nested_address(builtin: ShapeValidator) -> None:
    pairs = participant()
    subject(pairs)["gx:legalAddress"]["gx:countryCode"] = "XX"
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:legalAddress/gx:countryCode"
    assert violation.rule == "gx:AddressShape/gx:countryCode"
    assert "'XX'" in violation.message
    assert "ISO 3166-1" in violation.message  # the shape's own description
    assert "'DE'" in violation.fix or "'AF'" in violation.fix


def test_value_not_in_list(builtin: ShapeValidator) -> None:
    pairs = copy.deepcopy(examples.label())
    subject(pairs)["gx:labelLevel"] = "L4"
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:labelLevel"
    assert violation.rule == "gx:LabelCredentialShape/gx:labelLevel"
    assert violation.fix == "use one of: 'SC', 'L1', 'L2', 'L3'"


def test_long_lists_are_shortened_in_the_fix(builtin: ShapeValidator) -> None:
    pairs = copy.deepcopy(examples.registration_numbers())
    subject(pairs, 1)["gx:subdivisionCountryCode"] = "XX-1"
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:subdivisionCountryCode"
    assert violation.rule == "gx:LeiCodeShape/gx:subdivisionCountryCode"
    assert "more)" in violation.fix
    assert len(violation.fix) < 300


def test_wrong_datatype(builtin: ShapeValidator) -> None:
    pairs = copy.deepcopy(examples.service_offering())
    terms = subject(pairs)["gx:serviceOfferingTermsAndConditions"][0]
    terms["gx:url"] = "https://example.org/terms"  # a plain string, not xsd:anyURI
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:serviceOfferingTermsAndConditions/0/gx:url"
    assert violation.rule == "gx:TermsAndConditionsShape/gx:url"
    assert "xsd:anyURI" in violation.message
    assert '"@type": "xsd:anyURI"' in violation.fix


def test_ill_formed_literal_of_the_right_datatype(builtin: ShapeValidator) -> None:
    pairs = copy.deepcopy(examples.service_offering())
    subject(pairs)["gx:keyword"] = [{"@value": "x", "@type": "xsd:integer"}]
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:keyword/0"
    assert violation.rule == "gx:ServiceOfferingShape/gx:keyword"


def test_value_in_a_list_is_located_by_index(builtin: ShapeValidator) -> None:
    pairs = participant()
    subject(pairs)["gx:registrationNumber"][1] = {"id": "urn:example:nothing"}
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:registrationNumber/1"
    assert violation.rule == "gx:LegalPersonShape/gx:registrationNumber"
    assert "gx:RegistrationNumber" in violation.fix


def test_property_the_closed_shape_does_not_allow(builtin: ShapeValidator) -> None:
    pairs = participant()
    subject(pairs)["gx:legalAddress"]["gx:phone"] = "+49 30 1234"
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:legalAddress/gx:phone"
    assert violation.rule == "gx:AddressShape/gx:phone"
    assert violation.fix.startswith("remove gx:phone (allowed: gx:countryCode")


def test_too_many_values(builtin: ShapeValidator) -> None:
    pairs = participant()
    address = subject(pairs)["gx:legalAddress"]
    subject(pairs)["gx:headquartersAddress"] = [address, copy.deepcopy(address)]
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:headquartersAddress"
    assert violation.rule == "gx:LegalPersonShape/gx:headquartersAddress"
    assert "at most 1" in violation.message


def test_every_broken_credential_is_reported_in_order(builtin: ShapeValidator) -> None:
    pairs = participant()
    del subject(pairs, 1)["gx:vatID"]
    subject(pairs, 0)["gx:legalAddress"]["gx:countryCode"] = "XX"
    violations = builtin.validate(pairs)
    assert [(v.credential, v.path) for v in violations] == [
        (
            "https://participant.example.org/legal-person",
            "/credentialSubject/gx:legalAddress/gx:countryCode",
        ),
        ("https://participant.example.org/vat", "/credentialSubject/gx:vatID"),
    ]


def test_references_resolve_across_the_submission(builtin: ShapeValidator) -> None:
    offering = copy.deepcopy(examples.service_offering())
    alone = [offering[0]]
    violation = only(builtin.validate(alone))
    assert violation.path == "/credentialSubject/gx:providedBy"
    assert violation.rule == "gx:ServiceOfferingShape/gx:providedBy"
    assert "submitted with this one" in violation.fix
    assert builtin.validate(offering) == []


def test_list_of_subjects(builtin: ShapeValidator) -> None:
    pairs = participant()
    credential = pairs[1][1]
    extra = {"id": "https://participant.example.org/vat2#subject", "type": "gx:VatID"}
    credential["credentialSubject"] = [credential["credentialSubject"], extra]
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/1/gx:vatID"


def test_credential_that_is_not_json_ld(builtin: ShapeValidator) -> None:
    pairs = participant()
    pairs[0][1]["@context"] = [
        "https://www.w3.org/ns/credentials/v2",
        "https://unknown.example/ctx",
    ]
    violations = builtin.validate(pairs)
    assert violations[0].credential == "https://participant.example.org/legal-person"
    assert violations[0].rule == "jsonld/jsonld.unknown_context"


def test_no_pointer_is_a_blank_node(builtin: ShapeValidator) -> None:
    pairs = copy.deepcopy(examples.data_product())
    product = subject(pairs)
    parameter = product["gx:dataProductDescription"]["gx:dataProductConfigurationParameters"][0]
    del parameter["gx:parameterName"]
    violation = only(builtin.validate(pairs))
    assert violation.path == (
        "/credentialSubject/gx:dataProductDescription/gx:dataProductConfigurationParameters"
        "/0/gx:parameterName"
    )
    assert violation.rule == "gx:DataProductConfigurationParameterShape/gx:parameterName"


def test_official_bundle_reports_the_same(
    builtin: ShapeValidator, official: ShapeValidator
) -> None:
    pairs = participant()
    subject(pairs)["gx:legalAddress"]["gx:countryCode"] = "XX"
    del subject(pairs, 1)["gx:vatID"]
    assert official.validate(pairs) == builtin.validate(pairs)


def test_mime_type_not_in_the_official_list(official: ShapeValidator) -> None:
    pairs = copy.deepcopy(examples.data_product())
    subject(pairs)["gx:digitalServiceLegalDocuments"][0]["gx:mimeTypes"] = ["foo/bar"]
    violation = only(official.validate(pairs))
    assert violation.path == "/credentialSubject/gx:digitalServiceLegalDocuments/0/gx:mimeTypes/0"
    assert violation.rule == "gx:LegalDocumentShape/gx:mimeTypes"


# --- types and shapes ------------------------------------------------------------------------


def test_known_types(builtin: ShapeValidator, official: ShapeValidator) -> None:
    known = builtin.known_types()
    for name in (
        "LegalPerson",
        "Address",
        "VatID",
        "LeiCode",
        "EORI",
        "EUID",
        "TaxID",
        "LocalRegistrationNumber",
        "Issuer",
        "ServiceOffering",
        "DataProduct",
        "VirtualResource",
        "PhysicalResource",
        "LabelCredential",
    ):
        assert GX + name in known
    assert len(known) == 48
    assert GX + "VirtualMachineServiceOffering" not in known
    assert set(known) < set(official.known_types())
    assert len(official.known_types()) == 166


def test_unknown_type_is_not_checked(builtin: ShapeValidator) -> None:
    pairs = participant()
    subject(pairs)["type"] = "https://example.org/Widget"
    assert builtin.validate(pairs) == []


def test_subclass_is_checked_with_its_superclass_shapes(builtin: ShapeValidator) -> None:
    """gx:VirtualMachineServiceOffering has no built-in shape, but is a gx:ServiceOffering."""
    pairs = copy.deepcopy(examples.service_offering())
    subject(pairs)["type"] = "gx:VirtualMachineServiceOffering"
    assert builtin.validate(pairs) == []
    del subject(pairs)["gx:providedBy"]
    assert [v.rule for v in builtin.validate(pairs)] == ["gx:ServiceOfferingShape/gx:providedBy"]


@needs_official
def test_builtin_shapes_are_the_official_ones() -> None:
    """Each built-in shape is the official 25.11 shape, triple for triple (but the Issuer's)."""
    rdflib = pytest.importorskip("rdflib")
    ours = rdflib.Graph().parse(BUILTIN_SHAPES)
    theirs = rdflib.Graph().parse(OFFICIAL)
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")

    def canonical(graph: Any, node: Any) -> Any:
        # Shapes are trees of blank nodes, so a nested sorted tuple is a canonical form
        # (rdflib's isomorphism test takes minutes on these); RDF lists become tuples.
        if (node, rdflib.RDF.first, None) in graph:
            items = []
            while node != rdflib.RDF.nil:
                items.append(term(graph, graph.value(node, rdflib.RDF.first)))
                node = graph.value(node, rdflib.RDF.rest)
            return ("list", tuple(items))
        return tuple(sorted((str(p), term(graph, o)) for p, o in graph.predicate_objects(node)))

    def term(graph: Any, value: Any) -> Any:
        return canonical(graph, value) if isinstance(value, rdflib.BNode) else value.n3()

    shapes = list(ours.subjects(sh.targetClass, None))
    assert len(shapes) == 48
    for shape in shapes:
        if shape == rdflib.URIRef(GX + "IssuerShape"):
            continue
        assert canonical(ours, shape) == canonical(theirs, shape), shape


# --- loading shapes ----------------------------------------------------------------------------


def test_unsupported_shacl_feature_is_refused() -> None:
    ttl = """
    @prefix sh: <http://www.w3.org/ns/shacl#> .
    @prefix ex: <https://example.org/> .
    ex:S a sh:NodeShape ; sh:targetClass ex:C ;
        sh:property [ sh:path ex:p ; sh:lessThan ex:q ] .
    """
    with pytest.raises(BadRequest) as caught:
        ShapeValidator(ttl)
    assert caught.value.code == "shapes.unsupported"
    assert "lessThan" in caught.value.detail


def test_complex_path_is_refused() -> None:
    ttl = """
    @prefix sh: <http://www.w3.org/ns/shacl#> .
    @prefix ex: <https://example.org/> .
    ex:S a sh:NodeShape ; sh:targetClass ex:C ;
        sh:property [ sh:path [ sh:inversePath ex:p ] ; sh:minCount 1 ] .
    """
    with pytest.raises(BadRequest) as caught:
        ShapeValidator(ttl)
    assert caught.value.code == "shapes.unsupported"


def test_turtle_that_does_not_parse() -> None:
    with pytest.raises(BadRequest) as caught:
        ShapeValidator("this is not turtle")
    assert caught.value.code == "shapes.invalid"


def test_other_targets_are_refused() -> None:
    ttl = """
    @prefix sh: <http://www.w3.org/ns/shacl#> .
    @prefix ex: <https://example.org/> .
    ex:S a sh:NodeShape ; sh:targetNode ex:n ; sh:closed true .
    """
    with pytest.raises(BadRequest) as caught:
        ShapeValidator(ttl)
    assert caught.value.code == "shapes.unsupported"


def test_custom_shapes_with_pattern_range_and_logic() -> None:
    ttl = """
    @prefix sh: <http://www.w3.org/ns/shacl#> .
    @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
    @prefix gx: <https://w3id.org/gaia-x/development#> .
    gx:S a sh:NodeShape ; sh:targetClass gx:Thing ;
        sh:property [ sh:path gx:code ; sh:pattern "^[A-Z]{3}$" ; sh:message "three capitals" ] ,
            [ sh:path gx:size ; sh:datatype xsd:integer ; sh:minInclusive 1 ; sh:maxExclusive 10 ] ,
            [ sh:path gx:kind ; sh:xone ( [ sh:hasValue "a" ] [ sh:hasValue "b" ] ) ] ,
            [ sh:path gx:note ; sh:not [ sh:in ( "secret" ) ] ; sh:maxLength 5 ] .
    """
    validator = ShapeValidator(ttl)
    assert validator.known_types() == [GX + "Thing"]

    def check(**fields: Any) -> list[tuple[str, str]]:
        thing = {"id": "https://example.org/t", "type": "gx:Thing"}
        thing.update({f"gx:{k}": v for k, v in fields.items()})
        document = {
            "@context": [
                "https://www.w3.org/ns/credentials/v2",
                "https://w3id.org/gaia-x/development#",
            ],
            "credentialSubject": thing,
        }
        return [
            (v.path.rsplit("/", 1)[-1], v.message) for v in validator.validate([("c", document)])
        ]

    assert check(code="ABC", size=3, kind="a", note="hi") == []
    assert check(code="abc") == [("gx:code", "three capitals")]
    assert [p for p, _ in check(size=10)] == ["gx:size"]
    assert [p for p, _ in check(size=0)] == ["gx:size"]
    assert [p for p, _ in check(kind="c")] == ["gx:kind"]
    assert [p for p, _ in check(note="secret")] == ["gx:note", "gx:note"]  # not + maxLength


# --- the registry ------------------------------------------------------------------------------


def test_registry_starts_with_builtin_and_installs_a_bundle(tmp_path: Path) -> None:
    registry = ShapeRegistry(tmp_path)
    assert registry.source == "builtin"
    assert registry.validator() is ShapeValidator.builtin()
    ttl = """
    @prefix sh: <http://www.w3.org/ns/shacl#> .
    @prefix gx: <https://w3id.org/gaia-x/development#> .
    gx:LegalPersonShape a sh:NodeShape ; sh:targetClass gx:LegalPerson ;
        sh:property [ sh:path gx:nickname ; sh:minCount 1 ] .
    """
    installed = registry.install(ttl)
    assert registry.validator() is installed
    assert registry.source == "installed"
    assert installed.known_types() == [GX + "LegalPerson"]
    assert [v.rule for v in installed.validate(participant())] == [
        "gx:LegalPersonShape/gx:nickname"
    ]
    # a new registry over the same directory finds the installed bundle
    again = ShapeRegistry(tmp_path)
    assert again.source == "installed"
    assert again.validator().known_types() == [GX + "LegalPerson"]
    again.reset()
    assert ShapeRegistry(tmp_path).source == "builtin"


def test_registry_refuses_broken_or_empty_bundles(tmp_path: Path) -> None:
    registry = ShapeRegistry(tmp_path)
    with pytest.raises(BadRequest) as caught:
        registry.install("@prefix broken")
    assert caught.value.code == "shapes.invalid"
    with pytest.raises(BadRequest) as caught:
        registry.install("@prefix ex: <https://example.org/> . ex:a ex:b ex:c .")
    assert caught.value.code == "shapes.empty"
    assert registry.source == "builtin"
    assert not (tmp_path / ShapeRegistry.FILE_NAME).exists()


# --- the data graph ------------------------------------------------------------------------------


@pytest.mark.parametrize("collection", ["data_product", "resources", "registration_numbers"])
def test_graph_is_the_json_ld_graph(collection: str) -> None:
    """Stand-in ids and typed-literal shortcuts give pyld's triples (blank nodes aside)."""
    from collections import Counter

    import pyoxigraph

    from hansa.compliance.shapes_data import GraphBuilder
    from hansa.identity.jsonld import pyld_dataset

    pairs = getattr(examples, collection)()
    graph, broken = GraphBuilder().build(pairs)
    assert broken == []

    def node(term: Any, stand_ins: Any) -> str:
        if isinstance(term, pyoxigraph.BlankNode) or term in stand_ins:
            return "_"
        return str(term)

    ours = Counter(
        (node(s, graph.stand_ins), p, node(o, graph.stand_ins))
        for s, properties in graph.out.items()
        for p, objects in properties.items()
        for o in objects
    )
    reference: Counter[tuple[str, str, str]] = Counter()
    for _, credential in pairs:
        document = {"@context": credential["@context"], **credential["credentialSubject"]}
        for quad in pyld_dataset(document):
            reference[(node(quad.subject, ()), quad.predicate.value, node(quad.object, ()))] += 1
    assert ours == reference


def test_objects_are_described_by_type_not_by_stand_in_id(builtin: ShapeValidator) -> None:
    pairs = participant()
    subject(pairs)["gx:legalAddress"]["type"] = "gx:Adress"
    violation = only(builtin.validate(pairs))
    assert violation.path == "/credentialSubject/gx:legalAddress"
    assert "(got an object of type gx:Adress)" in violation.message
    assert "urn:hansa" not in violation.message + violation.fix
