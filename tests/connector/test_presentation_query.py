"""Selecting held credentials by DCP scope and by presentation definition (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from hansa.connector.presentation_query import (
    VC_ID_ALIAS,
    VC_TYPE_ALIAS,
    Scope,
    evaluate_definition,
    parse_path,
    parse_scope,
    select_by_scopes,
)
from hansa.errors import HansaError

MEMBERSHIP = {
    "id": "urn:uuid:8247b87d-8d72-47e1-8128-9ce47e3d829d",
    "type": ["VerifiableCredential", "MembershipCredential"],
    "issuer": "did:web:issuer.example",
    "credentialSubject": {"id": "did:web:holder.example", "memberOf": "catena", "level": 2},
}
LABEL = {
    "id": "urn:uuid:label-1",
    "type": ["VerifiableCredential", "gx:LabelCredential"],
    "issuer": "did:web:clearing-house.example",
    "credentialSubject": {"id": "did:web:holder.example", "gx:labelLevel": "L1"},
}
HELD = [MEMBERSHIP, LABEL]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{VC_TYPE_ALIAS}:Member", Scope(VC_TYPE_ALIAS, "Member", None)),
        (f"{VC_TYPE_ALIAS}:Member:read", Scope(VC_TYPE_ALIAS, "Member", "read")),
        (f"{VC_TYPE_ALIAS}:gx:LabelCredential:*", Scope(VC_TYPE_ALIAS, "gx:LabelCredential", "*")),
        (f"{VC_TYPE_ALIAS}:gx:LabelCredential", Scope(VC_TYPE_ALIAS, "gx:LabelCredential", None)),
        (f"{VC_ID_ALIAS}:urn:uuid:x:read", Scope(VC_ID_ALIAS, "urn:uuid:x", "read")),
        (f"{VC_TYPE_ALIAS}:", None),
        (f"{VC_TYPE_ALIAS}:read", Scope(VC_TYPE_ALIAS, "read", None)),
        ("presentation1", None),
        ("com.example.alias:Member", None),
    ],
)
def test_parse_scope(text: str, expected: Scope | None) -> None:
    assert parse_scope(text) == expected


def test_select_by_scopes() -> None:
    assert select_by_scopes(HELD, [f"{VC_TYPE_ALIAS}:MembershipCredential:read"]) == [0]
    assert select_by_scopes(HELD, [f"{VC_TYPE_ALIAS}:gx:LabelCredential"]) == [1]
    # DCP's example id is a bare UUID; Hansa's credentials carry it as urn:uuid.
    assert select_by_scopes(HELD, [f"{VC_ID_ALIAS}:8247b87d-8d72-47e1-8128-9ce47e3d829d"]) == [0]
    assert select_by_scopes(HELD, [f"{VC_ID_ALIAS}:urn:uuid:label-1"]) == [1]
    # write-only access reads nothing; unknown aliases and near-miss types select nothing.
    assert select_by_scopes(HELD, [f"{VC_TYPE_ALIAS}:MembershipCredential:write"]) == []
    assert select_by_scopes(HELD, ["presentation1", f"{VC_TYPE_ALIAS}:LabelCredential"]) == []
    both = [f"{VC_TYPE_ALIAS}:VerifiableCredential"]
    assert select_by_scopes(HELD, both) == [0, 1]


def _definition(*fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "pd",
        "input_descriptors": [{"id": "d1", "constraints": {"fields": list(fields)}}],
        **extra,
    }


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"path": ["$.type"], "filter": {"type": "string", "pattern": "Membership"}}, [0]),
        (
            {
                "path": ["$.type"],
                "filter": {"type": "array", "contains": {"const": "gx:LabelCredential"}},
            },
            [1],
        ),
        ({"path": ["$.vc.type"], "filter": {"const": "MembershipCredential"}}, [0]),
        ({"path": ["$.credentialSubject.level"], "filter": {"type": "integer", "minimum": 2}}, [0]),
        ({"path": ["$['credentialSubject']['gx:labelLevel']"]}, [1]),
        ({"path": ["$.type[1]"], "filter": {"enum": ["gx:LabelCredential"]}}, [1]),
        ({"path": ["$.missing", "$.issuer"], "filter": {"pattern": "clearing-house"}}, [1]),
        ({"path": ["$.missing"], "optional": True}, [0, 1]),
        ({"path": ["$.missing"]}, []),
    ],
)
def test_fields(field: dict[str, Any], expected: list[int]) -> None:
    matches = evaluate_definition(_definition(field), HELD)
    assert [index for _, index in matches] == expected


def test_every_field_of_a_descriptor_must_match() -> None:
    definition = _definition(
        {"path": ["$.type"], "filter": {"const": "MembershipCredential"}},
        {"path": ["$.credentialSubject.memberOf"], "filter": {"const": "other"}},
    )
    assert evaluate_definition(definition, HELD) == []


def test_several_descriptors() -> None:
    definition = {
        "id": "pd",
        "input_descriptors": [
            {
                "id": "label",
                "constraints": {
                    "fields": [{"path": ["$.type"], "filter": {"const": "gx:LabelCredential"}}]
                },
            },
            {"id": "any", "constraints": {}},
        ],
    }
    assert evaluate_definition(definition, HELD) == [("label", 1), ("any", 0), ("any", 1)]


@pytest.mark.parametrize(
    ("definition", "pointer"),
    [
        (
            _definition(submission_requirements=[]),
            "/presentationDefinition/submission_requirements",
        ),
        (_definition(frame={}), "/presentationDefinition/frame"),
        (
            {
                "id": "pd",
                "input_descriptors": [{"id": "d", "constraints": {"limit_disclosure": "required"}}],
            },
            "/presentationDefinition/input_descriptors/0/constraints/limit_disclosure",
        ),
        (
            _definition({"path": ["$.type"], "filter": {}, "predicate": "required"}),
            "/presentationDefinition/input_descriptors/0/constraints/fields/0/predicate",
        ),
        (
            _definition({"path": ["$.credentialSubject.*"]}),
            "/presentationDefinition/input_descriptors/0/constraints/fields/0/path/0",
        ),
        (
            _definition({"path": ["$..id"]}),
            "/presentationDefinition/input_descriptors/0/constraints/fields/0/path/0",
        ),
        (
            _definition({"path": ["type"]}),
            "/presentationDefinition/input_descriptors/0/constraints/fields/0/path/0",
        ),
    ],
)
def test_unsupported_features_are_501(definition: dict[str, Any], pointer: str) -> None:
    with pytest.raises(HansaError) as exc:
        evaluate_definition(definition, HELD)
    assert (exc.value.code, exc.value.status_code) == (
        "dcp.presentation_definition_unsupported",
        501,
    )
    assert exc.value.pointer == pointer


def test_invalid_filter_is_400() -> None:
    with pytest.raises(HansaError) as exc:
        evaluate_definition(_definition({"path": ["$.type"], "filter": {"type": 12}}), HELD)
    assert (exc.value.code, exc.value.status_code) == ("dcp.query_invalid", 400)


def test_parse_path() -> None:
    assert parse_path("$", "/p") == []
    assert parse_path("$.a.b[2]['c d'][\"e\"]", "/p") == ["a", "b", 2, "c d", "e"]
    assert parse_path("$.@context", "/p") == ["@context"]


def test_official_example_definition_is_evaluated() -> None:
    import json
    from pathlib import Path

    path = Path(__file__).parent / "dcp_examples"
    message = json.loads(
        (path / "presentation-query-message-w-presentation-definition.json").read_text()
    )
    organisation = {**MEMBERSHIP, "type": ["VerifiableCredential", "OrganizationCredential"]}
    matches = evaluate_definition(message["presentationDefinition"], [LABEL, organisation])
    assert matches == [("organization credential", 1)]
