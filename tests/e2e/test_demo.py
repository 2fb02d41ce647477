"""``hansa demo --once``: every step succeeds, on a new and on a reused directory."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hansa.cli.main import app
from ports import free_port_block


@pytest.mark.slow
def test_demo_once_succeeds_twice(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["demo", "--once", "--dir", str(tmp_path), "--base-port", str(free_port_block())]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.stdout
    assert "[3/7] Onboarding: notary and compliance" in first.stdout
    assert "Acme Mobility GmbH: VAT number DE129273398 checked by the notary" in first.stdout
    assert "(check digits; VIES not configured)" in first.stdout
    assert first.stdout.count("compliance: Standard Compliance (label credential valid until") == 2
    assert "[6/7] Revocation" in first.stdout
    assert "[7/7] Contract negotiation" in first.stdout
    assert "refused (403 vc.revoked)" in first.stdout
    assert "All steps succeeded" in first.stdout
    # A second run reopens the same federation (keys, certificates, databases).
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.stdout
    # The clearing house set itself up once: the same terms, each role trusted once.
    assert second.stdout.count("compliance: Standard Compliance") == 2


def test_demo_reports_a_failing_step(tmp_path: Path) -> None:
    runner = CliRunner()
    port = free_port_block()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        result = runner.invoke(
            app, ["demo", "--once", "--dir", str(tmp_path), "--base-port", str(port)]
        )
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
    assert str(tmp_path / "demo.log") in result.stdout
