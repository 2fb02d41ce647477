"""The bundled DSP 2025-1 schemas: every official example validates, bad input is pinpointed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft201909Validator
from referencing.exceptions import NoSuchResource

from hansa.connector.dsp_schemas import (
    MESSAGE_SCHEMAS,
    SCHEMA_DIR,
    UNTYPED_SCHEMAS,
    json_pointer,
    known_message_types,
    schema_for,
    schema_registry,
    validate_message,
)
from hansa.errors import BadRequest
from json_variants import variants
from spec_paths import SPEC

UPSTREAM = SPEC / "dsp-2025-1" / "schemas"
EXAMPLES = sorted(SCHEMA_DIR.rglob("example/*.json"))
# The one upstream example that fails its own schema (see schemas/dsp/README.md).
BROKEN_UPSTREAM_EXAMPLE = "common/example/dataservice-did-service.json"


def load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMA_DIR / relative).read_text(encoding="utf-8"))
    return data


def untyped_name(example: dict[str, Any]) -> str | None:
    if "@type" in example:
        return None
    return "VersionResponse" if "protocolVersions" in example else "DidService"


def test_every_schema_file_is_a_valid_draft_2019_09_schema() -> None:
    schemas = sorted(SCHEMA_DIR.rglob("*-schema.json"))
    assert len(schemas) == 26
    for path in schemas:
        Draft201909Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def test_every_message_type_has_a_bundled_schema() -> None:
    for relative in [*MESSAGE_SCHEMAS.values(), *UNTYPED_SCHEMAS.values()]:
        assert (SCHEMA_DIR / relative).is_file(), relative
    assert known_message_types() == frozenset(MESSAGE_SCHEMAS)
    assert schema_for("TransferError")["title"] == "TransferErrorSchema"
    with pytest.raises(KeyError):
        schema_for("Nonsense")


@pytest.mark.parametrize(
    "example",
    [p for p in EXAMPLES if p.relative_to(SCHEMA_DIR).as_posix() != BROKEN_UPSTREAM_EXAMPLE],
    ids=lambda p: p.relative_to(SCHEMA_DIR).as_posix(),
)
def test_every_official_example_validates(example: Path) -> None:
    message = json.loads(example.read_text(encoding="utf-8"))
    expected = untyped_name(message)
    assert validate_message(message, expected_type=expected) == (expected or message["@type"])


def test_the_documented_upstream_example_defect_still_fails() -> None:
    # If this starts passing, upstream fixed the schema: drop the README note.
    with pytest.raises(BadRequest) as caught:
        validate_message(load(BROKEN_UPSTREAM_EXAMPLE), expected_type="DidService")
    assert caught.value.pointer == "/serviceEndpoint"


def test_examples_cover_every_message_type() -> None:
    seen = {json.loads(p.read_text(encoding="utf-8")).get("@type") for p in EXAMPLES}
    missing = set(MESSAGE_SCHEMAS) - seen
    assert missing == set()


def test_bundled_copies_match_upstream_except_the_documented_fixes() -> None:
    if not UPSTREAM.is_dir():
        pytest.skip("upstream copy not on this machine")
    changed = {
        path.relative_to(SCHEMA_DIR).as_posix()
        for path in SCHEMA_DIR.rglob("*.json")
        if path.read_bytes() != (UPSTREAM / path.relative_to(SCHEMA_DIR)).read_bytes()
    }
    assert changed == {
        "negotiation/contract-schema.json",
        "transfer/transfer-error-schema.json",
        "transfer/transfer-suspension-message-schema.json",
        "transfer/transfer-termination-message-schema.json",
    }
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    assert "2025-1-err1" in readme
    assert "Apache" in readme
    for name in changed:
        assert name.split("/")[-1] in readme


def test_the_registry_never_fetches() -> None:
    with pytest.raises(NoSuchResource):
        schema_registry().get_or_retrieve("https://w3id.org/dspace/2025/1/unknown-schema.json")


def test_transfer_refs_resolve_after_the_fix() -> None:
    # Upstream wrote "#definitions/..." here, which cannot resolve.
    message = load("transfer/example/transfer-termination-message.json")
    del message["providerPid"]
    with pytest.raises(BadRequest) as caught:
        validate_message(message)
    assert caught.value.code == "dsp.invalid_message"
    assert "providerPid" in caught.value.detail


def test_stray_operator_is_rejected() -> None:
    message = load("negotiation/example/contract-agreement-message.json")
    constraint = message["agreement"]["permission"][0]["constraint"][0]
    constraint["operator"] = "term-lteq"
    with pytest.raises(BadRequest) as caught:
        validate_message(message)
    assert caught.value.pointer == "/agreement/permission/0/constraint/0/operator"


def bad(message: Any, **kwargs: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        validate_message(message, **kwargs)
    return caught.value


def test_not_an_object() -> None:
    error = bad(["ContractRequestMessage"])
    assert (error.code, error.pointer) == ("dsp.invalid_message", "")


@pytest.mark.parametrize("value", [None, 3, ["ContractRequestMessage"]])
def test_missing_or_non_string_type(value: Any) -> None:
    message = load("negotiation/example/contract-request-message.json")
    if value is None:
        del message["@type"]
    else:
        message["@type"] = value
    error = bad(message)
    assert (error.code, error.pointer) == ("dsp.invalid_message", "/@type")


def test_unknown_type() -> None:
    error = bad({"@type": "dspace:ContractRequestMessage"})
    assert (error.code, error.pointer) == ("dsp.unknown_message_type", "/@type")
    assert "ContractRequestMessage" in error.detail


def test_unexpected_type_for_the_endpoint() -> None:
    message = load("negotiation/example/contract-agreement-message.json")
    error = bad(message, expected_type="ContractRequestMessage")
    assert (error.code, error.pointer) == ("dsp.unexpected_message_type", "/@type")


def test_unknown_expected_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Nonsense"):
        validate_message({}, expected_type="Nonsense")


def test_missing_required_field_points_at_the_object() -> None:
    message = load("negotiation/example/contract-agreement-message.json")
    del message["agreement"]["assignee"]
    error = bad(message)
    assert error.code == "dsp.invalid_message"
    assert error.pointer == "/agreement"
    assert "assignee" in error.detail
    assert error.status_code == 400


def test_wrong_context_is_rejected() -> None:
    message = load("transfer/example/transfer-process.json")
    message["@context"] = ["https://w3id.org/dspace/v0.8/context.json"]
    assert bad(message).pointer == "/@context"


def test_every_error_is_listed_with_its_pointer() -> None:
    message = load("transfer/example/transfer-request-message.json")
    del message["agreementId"]
    message["format"] = 7
    message["dataAddress"] = {"@type": "DataAddress"}
    error = bad(message)
    assert error.errors is not None
    pointers = {e["pointer"] for e in error.errors}
    assert pointers == {"", "/format", "/dataAddress"}
    assert error.pointer == error.errors[0]["pointer"]
    assert "and 2 more" in error.detail
    for entry in error.errors:
        assert set(entry) == {"pointer", "message", "keyword"}


def test_request_with_both_callback_and_provider_pid_is_rejected() -> None:
    message = load("negotiation/example/contract-request-message.json")
    message["callbackAddress"] = "https://consumer.example/callback"
    error = bad(message)
    assert error.pointer == ""
    assert error.errors is not None
    assert "exactly one of callbackAddress, providerPid" in error.errors[0]["message"]


def test_offer_without_rules_names_the_closest_alternative() -> None:
    message = load("catalog/example/catalog.json")
    offer = message["dataset"][0]["hasPolicy"][0]
    del offer["permission"]
    error = bad(message)
    assert (error.pointer or "").startswith("/dataset/0/hasPolicy/0")


def test_dataset_offer_must_not_have_a_target() -> None:
    message = load("catalog/example/dataset.json")
    message["hasPolicy"][0]["target"] = "urn:uuid:somewhere"
    error = bad(message)
    assert error.pointer == "/hasPolicy/0"
    assert error.errors is not None
    assert any(e["keyword"] == "not" for e in error.errors)


def test_long_messages_are_shortened() -> None:
    message = load("transfer/example/transfer-process.json")
    message["state"] = "X" * 1000
    error = bad(message)
    assert error.errors is not None
    assert len(error.errors[0]["message"]) <= 300


def test_validation_does_not_change_the_message() -> None:
    message = load("negotiation/example/contract-agreement-message-full.json")
    before = copy.deepcopy(message)
    validate_message(message)
    assert message == before


@pytest.mark.parametrize(
    ("path", "pointer"),
    [([], ""), (["a", 0, "b"], "/a/0/b"), (["a/b", "m~n"], "/a~1b/m~0n")],
)
def test_json_pointer(path: list[str | int], pointer: str) -> None:
    assert json_pointer(path) == pointer


def test_the_fast_check_agrees_with_jsonschema() -> None:
    # jsonschema-rs decides validity first; only an invalid message goes through jsonschema.
    # Were it ever to accept what jsonschema refuses, a bad message would pass: so both
    # judge every official example and hundreds of broken variants of them alike.
    from hansa.connector.dsp_schemas import _fast_validator, _validator

    checked = 0
    for example in EXAMPLES:
        message = json.loads(example.read_text(encoding="utf-8"))
        name = untyped_name(message) or message["@type"]
        for variant in variants(message):
            slow = _validator(name).is_valid(variant)
            assert _fast_validator(name).is_valid(variant) == slow, (example.name, variant)
            checked += 1
    assert checked > 1000
