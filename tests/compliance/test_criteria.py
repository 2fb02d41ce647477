"""The criteria table: loaded as data, levels and evidence as the Compliance Document says."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hansa.compliance.criteria import (
    BUILTIN_PATH,
    LEVELS,
    builtin_criteria,
    builtin_document,
    load_criteria,
    scheme_of,
)
from hansa.errors import BadRequest
from spec_paths import SPEC

SPEC_COPY = str(SPEC / "gaia-x-25.11" / "criteria.yaml")


def test_shipped_table_is_the_spec_copy() -> None:
    shipped = yaml.safe_load(BUILTIN_PATH.read_text())
    try:
        with open(SPEC_COPY) as spec:
            original = yaml.safe_load(spec)
    except OSError:
        pytest.skip("the spec copy is not on this machine")
    assert shipped == original


def test_builtin_table_levels_and_evidence() -> None:
    criteria = builtin_criteria()
    assert len(criteria.criteria) == 67
    pa = criteria.get("PA1.1")
    assert pa is not None
    assert pa.evidence_at("SC") == "declaration"
    assert pa.evidence_at("L1") is None
    assert pa.url.endswith("/25.10/criteria_participant/#PA1.1")
    security = criteria.get("P3.1.1")
    assert security is not None
    assert [security.evidence_at(level) for level in LEVELS] == [
        "declaration",
        "declaration",
        "certification",
        "certification",
    ]
    # "not in use" and unresolved criteria are required nowhere.
    for unused in ("P1.3.3", "D1.1.2b"):
        criterion = criteria.get(unused)
        assert criterion is not None
        assert criterion.required_at == ()


def test_evidence_target_read_from_the_table() -> None:
    criteria = builtin_criteria()
    binding = criteria.get("P1.1.1")
    law = criteria.get("P1.1.2")
    assert binding is not None
    assert law is not None
    assert binding.target is not None
    assert binding.target.describe() == "gx:LegallyBindingAct"
    assert law.target is not None
    assert law.target.prop == "gx:governingLawCountries"


def test_required_criteria_by_level_and_category() -> None:
    criteria = builtin_criteria()
    assert [c.id for c in criteria.required("SC", ["participant"])] == ["PA1.1"]
    assert criteria.required("L1", ["participant"]) == []
    l3_only = {c.id for c in criteria.required("L3", ["european_control"])}
    assert "P5.1.2" in l3_only
    assert "P5.1.1" not in l3_only


def test_permissible_standard_matches_scheme_names() -> None:
    criterion = builtin_criteria().get("P3.1.1")
    assert criterion is not None
    assert criterion.accepts_standard("BSI C5")
    assert criterion.accepts_standard("ISO/IEC 27001")
    assert not criterion.accepts_standard("BSI")  # a prefix of a word, not the scheme
    assert not criterion.accepts_standard("ISO")
    assert not criterion.accepts_standard("Made-up Standard")


def _document(**entry: Any) -> dict[str, Any]:
    base = {
        "id": "X1",
        "category": "transparency",
        "required_at": ["SC"],
        "evidence_per_level": {"SC": "declaration"},
        "loire_evidence": "gx:LegallyBindingAct",
    }
    base.update(entry)
    return {"criteria": [base]}


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"nope": []}, "/criteria"),
        ({"criteria": ["text"]}, "/criteria/0"),
        (_document(id=None), "/criteria/0/id"),
        (_document(required_at=["L9"]), "/criteria/0/required_at"),
        (_document(evidence_per_level={"SC": "maybe"}), "/criteria/0/evidence_per_level/SC"),
        (_document(loire_evidence="nothing machine readable"), "/criteria/0"),
        (_document(hansa_evidence="no term"), "/criteria/0/hansa_evidence"),
        (_document(permissible_standards="BSI C5"), "/criteria/0/permissible_standards"),
    ],
)
def test_malformed_tables_are_refused(document: dict[str, Any], pointer: str) -> None:
    with pytest.raises(BadRequest) as caught:
        load_criteria(document)
    assert caught.value.code == "criteria.invalid"
    assert caught.value.pointer == pointer


def test_duplicate_criterion_is_refused() -> None:
    document = _document()
    document["criteria"].append(dict(document["criteria"][0]))
    with pytest.raises(BadRequest) as caught:
        load_criteria(document)
    assert caught.value.pointer == "/criteria/1/id"


def test_a_federation_table_can_name_its_evidence() -> None:
    criteria = load_criteria(_document(hansa_evidence="gx:DataPortability.gx:formats"), "fed-1")
    assert criteria.version == "fed-1"
    target = criteria.criteria[0].target
    assert target is not None
    assert (target.cls, target.prop) == (
        "gx:DataPortability",
        "gx:formats",
    )
    assert builtin_document()["criteria"][0]["id"] == "P1.1.1"


@pytest.mark.parametrize(
    ("entry", "scheme"),
    [
        ("BSI C5 BC-01, OIS-03", "BSI C5"),
        ("ISO/IEC 27001 Annex A 5.1, 5.2", "ISO/IEC 27001"),
        ("EU Cloud CoC 5.1.A, 5.1.B", "EU Cloud CoC"),
        ("SecNumCloud 19.1.c", "SecNumCloud"),
        ("CISPE CoC 3", "CISPE CoC"),
        ("SWIPO IaaS FR1, FR2", "SWIPO IaaS"),
        ("Climate Neutral Data Centre Pact (CNDCP)", "Climate Neutral Data Centre Pact"),
    ],
)
def test_scheme_of_a_permissible_standard(entry: str, scheme: str) -> None:
    assert scheme_of(entry) == scheme
