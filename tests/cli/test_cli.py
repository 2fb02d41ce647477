"""The ``hansa`` command line on a local node's data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hansa.cli.main import app

runner = CliRunner()
ENV = {"HANSA_BASE_URL": "https://cli.example.eu"}


def hansa(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--data-dir", str(data_dir), *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def credential_file(tmp_path: Path) -> Path:
    path = tmp_path / "credential.json"
    path.write_text(
        json.dumps(
            {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential"],
                "credentialSubject": {"id": "did:example:subject"},
            }
        )
    )
    return path


def test_help_everywhere() -> None:
    for command in (
        [],
        ["keys"],
        ["did"],
        ["vc"],
        ["vp"],
        ["trust"],
        ["federation"],
        ["connector"],
        ["demo"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage" in result.stdout


def test_keys_and_did(tmp_path: Path) -> None:
    code, out, _ = hansa(tmp_path, "keys", "create", "--type", "P-256", "--id", "p")
    assert code == 0
    assert json.loads(out)["publicKeyJwk"]["crv"] == "P-256"
    code, out, _ = hansa(tmp_path, "did", "show")
    assert code == 0
    document = json.loads(out)
    assert document["id"] == "did:web:cli.example.eu"
    assert document["verificationMethod"][0]["id"].endswith("#p")
    code, _, err = hansa(tmp_path, "keys", "create", "--type", "RSA")
    assert code == 1
    assert "key.unsupported_type" in err


def test_issue_verify_revoke(tmp_path: Path, credential_file: Path) -> None:
    hansa(tmp_path, "keys", "create")
    code, token, err = hansa(tmp_path, "vc", "issue", str(credential_file), "--jwt")
    assert code == 0, err
    token_file = tmp_path / "vc.jwt"
    token_file.write_text(token)
    code, out, err = hansa(tmp_path, "vc", "verify", str(token_file))
    assert code == 0, err
    assert "status" in err
    credential_id = json.loads(out)["id"]

    code, _, _ = hansa(tmp_path, "vc", "revoke", credential_id)
    assert code == 0
    code, _, err = hansa(tmp_path, "vc", "verify", str(token_file))
    assert code == 1
    assert "vc.revoked" in err


def test_presentation_round_trip(tmp_path: Path, credential_file: Path) -> None:
    hansa(tmp_path, "keys", "create")
    _, token, _ = hansa(tmp_path, "vc", "issue", str(credential_file), "--jwt", "--no-status")
    (tmp_path / "vc.jwt").write_text(token)
    code, vp, err = hansa(
        tmp_path,
        "vp",
        "issue",
        str(tmp_path / "vc.jwt"),
        "--audience",
        "did:web:v",
        "--nonce",
        "n1",
    )
    assert code == 0, err
    (tmp_path / "vp.jwt").write_text(vp)
    args = ["vp", "verify", str(tmp_path / "vp.jwt"), "--domain", "did:web:v"]
    code, _, err = hansa(tmp_path, *args, "--challenge", "n1")
    assert code == 0, err
    code, _, err = hansa(tmp_path, *args, "--challenge", "other")
    assert code == 1
    assert "vp.nonce_mismatch" in err


def test_data_integrity_issue(tmp_path: Path, credential_file: Path) -> None:
    hansa(tmp_path, "keys", "create")
    code, out, err = hansa(
        tmp_path, "vc", "issue", str(credential_file), "--securing", "eddsa-rdfc-2022"
    )
    assert code == 0, err
    secured = json.loads(out)
    assert secured["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    (tmp_path / "di.json").write_text(out)
    code, _, err = hansa(tmp_path, "vc", "verify", str(tmp_path / "di.json"))
    assert code == 0, err


def test_trust_anchors(tmp_path: Path) -> None:
    code, _, _ = hansa(tmp_path, "trust", "add-issuer", "did:web:issuer.example")
    assert code == 0
    code, _, err = hansa(tmp_path, "trust", "list")
    assert "did:web:issuer.example" in err
    code, _, err = hansa(tmp_path, "trust", "add-issuer", "not-a-did")
    assert code == 1


def test_federation_init_and_certify(tmp_path: Path) -> None:
    fed = tmp_path / "fed"
    code, _, err = hansa(tmp_path, "federation", "init", str(fed), "--name", "test-fed")
    assert code == 0, err
    assert (fed / "ca" / "root-ca.pem").exists()
    assert (fed / "ca" / "root-ca.key").stat().st_mode & 0o077 == 0
    assert "did:web:localhost%3A8440" in err
    code, _, err = hansa(tmp_path, "federation", "init", str(fed))
    assert code == 1
    assert "federation.exists" in err
    node_dir = tmp_path / "node"
    code, _, err = hansa(node_dir, "trust", "add-root", str(fed / "ca" / "root-ca.pem"))
    assert code == 0, err
    code, _, err = hansa(node_dir, "federation", "certify", str(fed))
    assert code == 0, err
    code, out, _ = hansa(node_dir, "did", "show")
    assert "x5u" in json.loads(out)["verificationMethod"][0]["publicKeyJwk"]
