"""The registry on SQLite and PostgreSQL: trusted parties, T&C versions, shapes, criteria."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hansa.compliance.criteria import BUILTIN_VERSION, builtin_document
from hansa.compliance.registry import Registry, terms_hash
from hansa.errors import BadRequest, Conflict, NotFound
from hansa.identity.pki import certificates_to_pem, create_root_ca
from hansa.identity.trust import TrustAnchorService

TERMS = "The participant agrees to keep its credentials up to date."


@pytest.fixture
def registry(sessions: sessionmaker[Session]) -> Registry:
    return Registry(sessions, TrustAnchorService(sessions, [], []))


def test_trusted_parties_by_role(registry: Registry) -> None:
    assert not registry.is_trusted("notary", "did:web:notary.example")
    registry.add_party("notary", "did:web:notary.example", "EU notary")
    registry.add_party("conformity_assessment_body", "did:web:cab.example")
    assert registry.is_trusted("notary", "did:web:notary.example")
    # A role is not a blanket trust: the notary assesses nothing.
    assert not registry.is_trusted("conformity_assessment_body", "did:web:notary.example")
    assert [(p.role, p.did) for p in registry.list_parties("notary")] == [
        ("notary", "did:web:notary.example")
    ]
    registry.remove_party("notary", "did:web:notary.example")
    assert not registry.is_trusted("notary", "did:web:notary.example")
    assert len(registry.list_parties()) == 1


def test_party_errors(registry: Registry) -> None:
    registry.add_party("notary", "did:web:notary.example")
    with pytest.raises(Conflict) as duplicate:
        registry.add_party("notary", "did:web:notary.example")
    assert duplicate.value.code == "registry.duplicate"
    with pytest.raises(NotFound) as role:
        registry.add_party("oracle", "did:web:x.example")
    assert role.value.code == "registry.unknown_role"
    with pytest.raises(BadRequest) as did:
        registry.add_party("notary", "https://notary.example")
    assert did.value.code == "registry.invalid_did"
    with pytest.raises(NotFound) as missing:
        registry.remove_party("notary", "did:web:other.example")
    assert missing.value.code == "registry.unknown_party"


def test_terms_versions_and_the_current_one(registry: Registry) -> None:
    assert registry.current_terms() is None
    first = registry.add_terms("1.0", TERMS)
    assert first.sha256 == hashlib.sha256(TERMS.encode()).hexdigest() == terms_hash(TERMS)
    assert registry.terms_snapshot() == (first, {first.sha256: "1.0"})
    second = registry.add_terms("2.0", TERMS + " Also this.")
    current, known = registry.terms_snapshot()
    assert current is not None
    assert current.version == "2.0"
    assert known == {first.sha256: "1.0", second.sha256: "2.0"}
    registry.set_current_terms("1.0")
    current = registry.current_terms()
    assert current is not None
    assert current.version == "1.0"
    assert [t.version for t in registry.list_terms() if t.current] == ["1.0"]
    assert registry.terms("2.0").text.endswith("Also this.")


def test_terms_known_by_published_hash(registry: Registry) -> None:
    published = "4bd7554097444c960292b4726c2efa1373485e8a5565d94d41195214c5e0ceb3"
    terms = registry.add_terms("gaia-x-25.11", "Gaia-X terms (see gaia-x.eu)", sha256=published)
    assert terms.sha256 == published
    assert terms.to_json()["textMatchesHash"] is False


def test_terms_errors(registry: Registry) -> None:
    registry.add_terms("1.0", TERMS)
    with pytest.raises(Conflict) as same_version:
        registry.add_terms("1.0", "other text")
    assert same_version.value.code == "registry.duplicate"
    with pytest.raises(Conflict):
        registry.add_terms("1.1", TERMS)  # the same text under another version
    for version, text, sha256 in (("", TERMS, None), ("3", "  ", None), ("3", "x", "XYZ")):
        with pytest.raises(BadRequest) as invalid:
            registry.add_terms(version, text, sha256=sha256)
        assert invalid.value.code == "registry.invalid_terms"
    with pytest.raises(NotFound) as unknown:
        registry.set_current_terms("9.9")
    assert unknown.value.code == "registry.unknown_terms"


def test_installed_shapes_are_served_as_installed(registry: Registry) -> None:
    turtle = "@prefix sh: <http://www.w3.org/ns/shacl#> .\n"
    info = registry.install_shapes("gx-25.11", "25.11", turtle)
    assert info.sha256 == hashlib.sha256(turtle.encode()).hexdigest()
    assert registry.shapes_turtle("gx-25.11") == turtle
    registry.install_shapes("gx-25.11", "25.11+fix.1", turtle + "# fix\n")
    assert [(s.name, s.version) for s in registry.list_shapes()] == [("gx-25.11", "25.11+fix.1")]
    with pytest.raises(NotFound):
        registry.shapes_turtle("other")
    with pytest.raises(BadRequest) as bad:
        registry.install_shapes("a/b", "1", turtle)
    assert bad.value.code == "registry.invalid_shapes"


def test_criteria_table_is_replaceable_data(registry: Registry) -> None:
    assert registry.criteria().version == BUILTIN_VERSION
    document = builtin_document()
    fewer = {"meta": document["meta"], "criteria": document["criteria"][:3]}
    installed = registry.set_criteria("fed-2026-1", fewer)
    assert len(installed.criteria) == 3
    assert registry.criteria().version == "fed-2026-1"
    with pytest.raises(BadRequest) as invalid:
        registry.set_criteria("broken", {"criteria": [{"id": 1}]})
    assert invalid.value.code == "criteria.invalid"
    assert registry.criteria().version == "fed-2026-1"


def test_public_view_of_the_trust_anchors(registry: Registry) -> None:
    _, root = create_root_ca("Registry test root")
    registry.trust.add_root(certificates_to_pem([root]).decode(), "federation root")
    registry.add_party("notary", "did:web:notary.example")
    registry.add_party("compliance_issuer", "did:web:clearing.example")
    view = registry.trust_anchors()
    assert [r["label"] for r in view["rootCAs"]] == ["federation root"]
    assert [p["did"] for p in view["notaries"]] == ["did:web:notary.example"]
    assert [p["did"] for p in view["complianceIssuers"]] == ["did:web:clearing.example"]
    assert view["conformityAssessmentBodies"] == []


def test_changes_by_another_process_are_seen_after_the_cache_time(
    sessions: sessionmaker[Session],
) -> None:
    trust = TrustAnchorService(sessions, [], [])
    worker = Registry(sessions, trust, cache_seconds=0.0)
    other_worker = Registry(sessions, trust, cache_seconds=3600.0)
    assert not worker.is_trusted("notary", "did:web:notary.example")
    assert not other_worker.is_trusted("notary", "did:web:notary.example")
    Registry(sessions, trust).add_party("notary", "did:web:notary.example")
    assert worker.is_trusted("notary", "did:web:notary.example")
    assert not other_worker.is_trusted("notary", "did:web:notary.example")  # still cached
