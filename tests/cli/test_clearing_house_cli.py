"""``hansa clearing-house``: shapes, terms and trusted parties of the local clearing house."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hansa.cli.main import app
from spec_paths import SPEC

runner = CliRunner()
HOUSE = {
    "HANSA_BASE_URL": "https://house.example.eu",
    "HANSA_ROLES": '["identity","clearing-house"]',
}
NOTARY = "did:web:notary.example.eu"
SHAPE = """
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix ex: <https://example.org/ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:ThingShape a sh:NodeShape ; sh:targetClass ex:Thing ;
    sh:property [ sh:path ex:name ; sh:datatype xsd:string ; sh:minCount 1 ] .
"""


def hansa(data_dir: Path, *args: str, env: dict[str, str] = HOUSE) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "clearing-house", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_node_without_the_role_is_told_how_to_add_it(tmp_path: Path) -> None:
    code, _, err = hansa(tmp_path, "terms", "list", env={"HANSA_BASE_URL": "https://p.example"})
    assert code == 1
    assert "clearing_house.role_missing" in err
    assert "HANSA_ROLES" in err


def test_terms_add_and_list(tmp_path: Path) -> None:
    text = tmp_path / "terms.txt"
    text.write_text("The participant agrees to the federation's rules.\n", encoding="utf-8")
    code, out, err = hansa(tmp_path, "terms", "add", "--version", "2026-01", str(text))
    assert code == 0, err
    added = json.loads(out)
    assert added["sha256"] == hashlib.sha256(text.read_bytes()).hexdigest()
    assert added["current"] is True
    code, out, _ = hansa(tmp_path, "terms", "add", "--version", "2026-01", str(text))
    assert code == 1
    code, out, _ = hansa(tmp_path, "terms", "list")
    assert [t["version"] for t in json.loads(out)] == ["2026-01"]


def test_terms_file_must_be_text(tmp_path: Path) -> None:
    binary = tmp_path / "terms.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    code, _, err = hansa(tmp_path, "terms", "add", "--version", "1", str(binary))
    assert code == 1
    assert "clearing_house.unreadable_file" in err


def test_parties_add_list_remove(tmp_path: Path) -> None:
    code, out, err = hansa(tmp_path, "parties", "add", "--role", "notary", NOTARY)
    assert code == 0, err
    assert json.loads(out) == {"role": "notary", "did": NOTARY, "label": None}
    code, _, err = hansa(tmp_path, "parties", "add", "--role", "notary", NOTARY)
    assert (code, "registry.duplicate" in err) == (1, True)
    hansa(tmp_path, "parties", "add", "--role", "compliance_issuer", NOTARY, "--label", "House")
    code, out, _ = hansa(tmp_path, "parties", "list", "--role", "notary")
    assert [p["did"] for p in json.loads(out)] == [NOTARY]
    code, out, _ = hansa(tmp_path, "parties", "list")
    assert len(json.loads(out)) == 2
    code, _, err = hansa(tmp_path, "parties", "remove", "--role", "notary", NOTARY)
    assert code == 0, err
    code, _, err = hansa(tmp_path, "parties", "remove", "--role", "notary", NOTARY)
    assert (code, "registry.unknown_party" in err) == (1, True)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--role", "mayor", NOTARY], "registry.unknown_role"),
        (["--role", "notary", "not-a-did"], "registry.invalid_did"),
    ],
)
def test_parties_add_refuses_bad_input(tmp_path: Path, args: list[str], error: str) -> None:
    code, _, err = hansa(tmp_path, "parties", "add", *args)
    assert code == 1
    assert error in err


def test_shapes_install_and_list(tmp_path: Path) -> None:
    shapes = tmp_path / "things.ttl"
    shapes.write_text(SHAPE, encoding="utf-8")
    code, out, err = hansa(tmp_path, "shapes", "install", str(shapes), "--version", "1.0")
    assert code == 0, err
    assert json.loads(out)["name"] == "things"
    code, out, _ = hansa(tmp_path, "shapes", "list")
    assert [(s["name"], s["version"]) for s in json.loads(out)] == [("things", "1.0")]


def test_shapes_that_do_not_parse_are_not_installed(tmp_path: Path) -> None:
    shapes = tmp_path / "broken.ttl"
    shapes.write_text("this is not turtle ;;", encoding="utf-8")
    code, _, err = hansa(tmp_path, "shapes", "install", str(shapes), "--version", "1")
    assert code == 1
    assert "shapes.invalid" in err
    code, out, _ = hansa(tmp_path, "shapes", "list")
    assert json.loads(out) == []


@pytest.mark.slow
def test_the_official_gaia_x_bundle_installs(tmp_path: Path) -> None:
    bundle = SPEC / "gaia-x-25.11" / "gx.shacl.ttl"
    code, out, err = hansa(
        tmp_path, "shapes", "install", str(bundle), "--version", "25.11", "--name", "gaia-x"
    )
    assert code == 0, err
    assert json.loads(out)["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
