"""``hansa connector asset|policy|offer`` on a local node's data directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hansa.cli.common import state
from hansa.cli.connector import app

runner = CliRunner()
ENV = {"HANSA_BASE_URL": "https://cli.example.eu"}
POLICY = {
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
            ],
        }
    ],
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    # The connector commands are mounted under ``hansa`` by cli/main.py; here they run
    # on their own, so the --data-dir option of the main callback is set directly.
    previous, state.data_dir = state.data_dir, tmp_path
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "report.pdf").write_bytes(b"%PDF")
    yield tmp_path
    state.data_dir = previous


def hansa(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_asset_policy_offer_commands(data_dir: Path) -> None:
    code, out, err = hansa(
        "asset", "create", "--id", "report", "--title", "Report", "--keyword", "finance",
        "--data-address", '{"type": "File", "path": "report.pdf"}',
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["dataAddress"]["path"] == "report.pdf"
    policy_file = data_dir / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    code, out, err = hansa("policy", "create", str(policy_file), "--id", "research")
    assert code == 0, err
    assert json.loads(out)["description"]
    code, out, err = hansa(
        "offer", "create", "--asset", "report", "--policy", "research", "--id", "o1",
        "--price", "5", "--currency", "CHF",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["price"] == {"amount": "5", "currency": "CHF"}

    for kind, name in (("asset", "report"), ("policy", "research"), ("offer", "o1")):
        code, _, table = hansa(kind, "list")  # tables go to stderr, as in `hansa keys list`
        assert code == 0
        assert name in table
        code, out, _ = hansa(kind, "show", name)
        assert code == 0
        assert json.loads(out)["id"] == name

    code, _, err = hansa("asset", "delete", "report")
    assert code == 1
    assert "asset.in_use" in err
    for kind, name in (("offer", "o1"), ("policy", "research"), ("asset", "report")):
        assert hansa(kind, "delete", name)[0] == 0
    code, _, err = hansa("asset", "show", "report")
    assert code == 1
    assert "asset.not_found" in err


def test_cli_refusals_name_the_problem(data_dir: Path) -> None:
    code, _, err = hansa("asset", "create", "--data-address", '{"type": "File", "path": "../x"}')
    assert code == 1
    assert "data_address.path_traversal" in err
    assert "/dataAddress/path" in err
    code, _, err = hansa("policy", "create", '{"permission": [{"action": "fly"}]}')
    assert code == 1
    assert "policy.unknown_action" in err
    code, _, err = hansa("policy", "create", "no-such-file.json")
    assert code == 1
    assert "cli.file_not_found" in err
    code, _, err = hansa("asset", "create", "--data-address", "{broken")
    assert code == 1
    assert "request.malformed_json" in err
    code, _, err = hansa("offer", "create", "--asset", "a", "--policy", "p", "--price", "x")
    assert code == 1
    assert "offer.price_invalid" in err
