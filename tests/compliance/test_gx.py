"""Gaia-X 25.11 credential builders, signing, and the ``hansa gx`` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hansa.cli import gx as gx_cli
from hansa.cli.common import state
from hansa.compliance import gx, gx_offerings
from hansa.compliance import gx_examples as examples
from hansa.compliance.shapes import ShapeValidator
from hansa.errors import BadRequest, Forbidden
from hansa.identity.jose import decode_unverified
from hansa.identity.keys import generate_private_key

DID = "did:web:participant.example.org"
BASE = "https://participant.example.org"


def conforms(*pairs: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [v.to_json() for v in ShapeValidator.builtin().validate(list(pairs))]


def error_code(call: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        call()
    return str(caught.value.code)


# --- the model ------------------------------------------------------------------------------


def test_legal_person_credential() -> None:
    credential = gx.legal_person(
        issuer=DID,
        subject_id=f"{BASE}/lp#subject",
        name="Example GmbH",
        legal_address=gx.address("de", region="de30", locality="Berlin"),
        registration_numbers=[f"{BASE}/vat#subject"],
        credential_id=f"{BASE}/lp",
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://w3id.org/gaia-x/development#",
    ]
    assert credential["type"] == ["VerifiableCredential", "gx:LegalPerson"]
    assert credential["validFrom"] == "2026-01-01T00:00:00Z"
    subject = credential["credentialSubject"]
    assert subject["gx:legalAddress"] == {
        "type": "gx:Address",
        "gx:countryCode": "DE",
        "vcard:region": "DE30",
        "vcard:locality": "Berlin",
    }
    assert subject["gx:headquartersAddress"] == subject["gx:legalAddress"]
    assert subject["gx:registrationNumber"] == [{"id": f"{BASE}/vat#subject"}]
    vat = gx.registration_number(
        "VatID", "DE129273398", issuer=DID, subject_id=f"{BASE}/vat#subject", country="DE"
    )
    assert conforms((credential["id"], credential), (vat["id"], vat)) == []


@pytest.mark.parametrize("code", ["DE", "DEU", "276", "fr"])
def test_country_codes_iso_3166_1(code: str) -> None:
    assert gx.country_code(code) == code.upper()


@pytest.mark.parametrize("code", ["XX", "EU", "ZZZ", "999", "", "Germany"])
def test_bad_country_codes(code: str) -> None:
    assert error_code(lambda: gx.address(code)) == "gx.invalid_country_code"


def test_subdivision_codes_iso_3166_2() -> None:
    assert gx.subdivision_code("de-be") == "DE-BE"
    assert error_code(lambda: gx.subdivision_code("DE-XX")) == "gx.invalid_subdivision_code"
    assert error_code(lambda: gx.subdivision_code("Berlin")) == "gx.invalid_subdivision_code"


def test_region_must_be_nuts2() -> None:
    assert error_code(lambda: gx.address("DE", region="Berlin")) == "gx.invalid_region"


def test_legal_person_needs_a_registration_number() -> None:
    code = error_code(
        lambda: gx.legal_person(
            issuer=DID,
            subject_id=f"{BASE}/lp",
            legal_address=gx.address("DE"),
            registration_numbers=[],
        )
    )
    assert code == "gx.missing_registration_number"


def test_ids_must_be_absolute_iris() -> None:
    code = error_code(
        lambda: gx.legal_person(
            issuer=DID,
            subject_id="participant",
            legal_address=gx.address("DE"),
            registration_numbers=["x"],
        )
    )
    assert code == "gx.invalid_iri"


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("VatID", "gx:vatID"),
        ("LeiCode", "schema:leiCode"),
        ("EORI", "gx:eori"),
        ("EUID", "gx:euid"),
        ("TaxID", "schema:taxID"),
        ("LocalRegistrationNumber", "gx:local"),
    ],
)
def test_registration_numbers(kind: str, key: str) -> None:
    credential = gx.registration_number(kind, " 123 ", issuer=DID, subject_id=f"{BASE}/n")
    subject = credential["credentialSubject"]
    assert subject["type"] == f"gx:{kind}"
    assert subject[key] == "123"
    assert ({"schema": "https://schema.org/"} in credential["@context"]) is key.startswith(
        "schema:"
    )
    assert conforms((credential["id"], credential)) == []


def test_registration_number_errors() -> None:
    assert (
        error_code(lambda: gx.registration_number("SSN", "1", issuer=DID, subject_id=BASE))
        == "gx.invalid_registration_type"
    )
    assert (
        error_code(lambda: gx.registration_number("VatID", " ", issuer=DID, subject_id=BASE))
        == "gx.missing_registration_number"
    )


def test_issuer_credential_with_the_terms_hash() -> None:
    digest = gx.terms_and_conditions_hash("The terms.")
    assert len(digest) == 64
    credential = gx.issuer_credential(
        issuer=DID, subject_id=f"{BASE}/issuer", terms_and_conditions_sha256=digest
    )
    assert credential["credentialSubject"]["gx:gaiaxTermsAndConditions"] == digest
    assert conforms((credential["id"], credential)) == []
    code = error_code(
        lambda: gx.issuer_credential(
            issuer=DID, subject_id=BASE, terms_and_conditions_sha256=digest.upper()
        )
    )
    assert code == "gx.invalid_hash"


def test_label_credential() -> None:
    digest = gx.digest_sri("eyJhbGciOi...")
    assert digest.startswith("sha256-")
    entry = gx.compliant_credential(f"{BASE}/lp", "gx:LegalPerson", digest)
    credential = gx.label_credential(
        issuer="did:web:clearing-house.example.org",
        subject_id="https://clearing-house.example.org/labels/2",
        level="L1",
        engine_version="1",
        rules_version="CD24.11",
        validated_criteria=["P1.1.1"],
        compliant_credentials=[entry],
    )
    assert conforms((credential["id"], credential)) == []
    assert (
        error_code(lambda: gx.compliant_credential(BASE, "gx:LegalPerson", "abc"))
        == "gx.invalid_digest"
    )
    for change, code in (
        ({"level": "L4"}, "gx.invalid_label_level"),
        ({"compliant_credentials": []}, "gx.missing_compliant_credentials"),
        ({"validated_criteria": []}, "gx.missing_validated_criteria"),
    ):
        arguments: dict[str, Any] = {
            "issuer": DID,
            "subject_id": BASE,
            "level": "SC",
            "engine_version": "1",
            "rules_version": "1",
            "validated_criteria": ["x"],
            "compliant_credentials": [entry],
            **change,
        }
        assert error_code(lambda a=arguments: gx.label_credential(**a)) == code


def test_offering_builder_errors() -> None:
    terms = gx_offerings.terms_and_conditions
    assert error_code(lambda: terms("not a url", "a" * 64)) == "gx.invalid_iri"
    assert error_code(lambda: terms(BASE, "a" * 64, kind="Terms")) == "gx.invalid_terms_type"
    assert error_code(lambda: terms(BASE, "abc")) == "gx.invalid_hash"
    assert (
        error_code(lambda: gx_offerings.access_usage_policy("{}", language="YAML"))
        == "gx.invalid_policy_language"
    )
    assert (
        error_code(lambda: gx_offerings.configuration_parameter("p", "d", []))
        == "gx.missing_admissible_values"
    )
    common = {
        "issuer": DID,
        "subject_id": f"{BASE}/so",
        "provided_by": f"{BASE}/lp",
        "terms": terms(BASE, "a" * 64),
    }
    assert (
        error_code(lambda: gx_offerings.service_offering(**common, provision_type="shared"))
        == "gx.invalid_provision_type"
    )
    assert (
        error_code(lambda: gx_offerings.service_offering(**common, data_protection_regimes=["X"]))
        == "gx.invalid_regime"
    )
    assert (
        error_code(
            lambda: gx_offerings.virtual_resource(
                issuer=DID,
                subject_id=BASE,
                copyright_owned_by=[],
                licenses=["MIT"],
                resource_policies=["p"],
            )
        )
        == "gx.missing_field"
    )


@pytest.mark.parametrize(
    "collection",
    [
        "participant",
        "registration_numbers",
        "service_offering",
        "data_product",
        "resources",
        "label",
    ],
)
def test_examples_conform_to_builtin_shapes(collection: str) -> None:
    assert conforms(*getattr(examples, collection)()) == []


def test_data_resource_is_not_a_25_11_type() -> None:
    known = ShapeValidator.builtin().known_types()
    assert gx.GX + "DataResource" not in known
    assert gx.GX + "VirtualResource" in known


# --- signing ----------------------------------------------------------------------------------


def test_sign_gx_credential() -> None:
    key = generate_private_key("Ed25519")
    credential = examples.participant(did=DID)[0][1]
    token = gx.sign_gx_credential(credential, key, f"{DID}#key-1")
    header, payload = decode_unverified(token)
    assert header["typ"] == "vc+jwt"
    assert header["kid"] == f"{DID}#key-1"
    assert payload["credentialSubject"] == credential["credentialSubject"]
    assert payload["iss"] == DID


def test_sign_refuses_other_issuers_and_missing_context() -> None:
    key = generate_private_key("Ed25519")
    credential = examples.participant(did=DID)[0][1]
    with pytest.raises(Forbidden):
        gx.sign_gx_credential(credential, key, "did:web:other.example.org#k")
    plain = {**credential, "@context": ["https://www.w3.org/ns/credentials/v2"]}
    assert error_code(lambda: gx.sign_gx_credential(plain, key, f"{DID}#k")) == (
        "gx.missing_context"
    )


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``hansa --data-dir tmp gx ...`` without the rest of the CLI (main.py mounts gx.app)."""
    from hansa.cli.main import app as main_app

    root = typer.Typer()
    root.add_typer(gx_cli.app, name="gx")
    runner = CliRunner()
    env = {"HANSA_BASE_URL": "https://participant.example.org"}
    monkeypatch.setattr(state, "data_dir", tmp_path / "node")

    def run(*args: str, app: Any = root) -> Any:
        return runner.invoke(app, list(args), env=env)

    run("--data-dir", str(tmp_path / "node"), "keys", "create", app=main_app)
    monkeypatch.setattr(state, "data_dir", tmp_path / "node")
    return run


def test_cli_builds_validates_and_signs(cli: Any, tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.json" for name in ("vat", "lp", "issuer", "so", "dp")}
    result = cli(
        "gx", "registration-number", "VatID", "DE129273398", "--subject-id", f"{BASE}/vat#s",
        "--country", "DE", "--issuer", "did:web:notary.example.org", "--out", str(files["vat"]),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = cli(
        "gx", "legal-person", "--subject-id", f"{BASE}/lp#s", "--country", "DE",
        "--region", "DE30", "--registration-number", f"{BASE}/vat#s", "--name", "Example",
        "--out", str(files["lp"]),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lp = json.loads(files["lp"].read_text())
    assert lp["issuer"].startswith("did:web:participant.example.org")
    result = cli(
        "gx", "issuer", "--subject-id", f"{BASE}/issuer#s", "--tandc-sha256", "c" * 64,
        "--out", str(files["issuer"]),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = cli(
        "gx", "service-offering", "--subject-id", f"{BASE}/so#s", "--provided-by", f"{BASE}/lp#s",
        "--terms-url", f"{BASE}/terms", "--terms-sha256", "d" * 64, "--keyword", "weather",
        "--endpoint-url", f"{BASE}/dsp", "--regime", "GDPR2016", "--out", str(files["so"]),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = cli(
        "gx", "data-product", "--subject-id", f"{BASE}/dp#s", "--provider", f"{BASE}/lp#s",
        "--identifier", "weather", "--title", "Weather", "--short-description", "Hourly data",
        "--launch-date", "2026-01-01", "--terms-url", f"{BASE}/terms", "--terms-sha256", "d" * 64,
        "--legal-document", f"{BASE}/dpa.pdf", "--dataset", f"{BASE}/ds/1",
        "--parameter", "resolution=Time step:hourly,daily", "--out", str(files["dp"]),
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    result = cli("gx", "validate", *(str(path) for path in files.values()))
    assert result.exit_code == 0, result.output
    assert "conforms" in result.output

    result = cli("gx", "sign", str(files["lp"]))
    assert result.exit_code == 0, result.output
    header, payload = decode_unverified(result.stdout.strip())
    assert header["kid"].startswith(payload["iss"] + "#")
    assert payload["credentialSubject"]["type"] == "gx:LegalPerson"


def test_cli_validate_lists_violations(cli: Any, tmp_path: Path) -> None:
    credential = examples.participant()[1][1]
    del credential["credentialSubject"]["gx:vatID"]
    path = tmp_path / "vat.json"
    path.write_text(json.dumps(credential))
    result = cli("gx", "validate", str(path))
    assert result.exit_code == 1
    violations = json.loads(result.stdout)
    assert violations[0]["path"] == "/credentialSubject/gx:vatID"
    assert violations[0]["rule"] == "gx:VatIDShape/gx:vatID"


def test_cli_errors_have_codes(cli: Any, tmp_path: Path) -> None:
    result = cli(
        "gx", "legal-person", "--subject-id", f"{BASE}/lp", "--country", "XX",
        "--registration-number", f"{BASE}/vat", "--issuer", DID,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "gx.invalid_country_code" in result.stderr
    result = cli("gx", "issuer", "--subject-id", f"{BASE}/i", "--issuer", DID)
    assert result.exit_code == 1
    assert "gx.missing_terms" in result.stderr
    result = cli(
        "gx", "data-product", "--subject-id", f"{BASE}/dp", "--provider", f"{BASE}/lp",
        "--identifier", "w", "--title", "W", "--short-description", "d", "--launch-date", "x",
        "--terms-url", f"{BASE}/t", "--terms-sha256", "d" * 64, "--legal-document", f"{BASE}/l",
        "--dataset", "d", "--parameter", "broken", "--issuer", DID,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "gx.invalid_parameter" in result.stderr
