"""``hansa demo --once``: every step succeeds, on a new and on a reused directory."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hansa.cli.main import app
from hansa.compliance.registry import terms_hash
from hansa.demo.federation import DEMO_TERMS, LocalFederation, set_up_clearing_house
from hansa.demo.onboarding import DEMO_PARTICIPANTS, DemoParticipant, OnboardingFailed, onboard
from ports import free_port_block


@pytest.mark.slow
def test_demo_once_succeeds_twice(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["demo", "--once", "--dir", str(tmp_path), "--base-port", str(free_port_block())]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.stdout
    assert "[3/11] Onboarding: notary and compliance" in first.stdout
    assert "Acme Mobility GmbH: VAT number DE129273398 checked by the notary" in first.stdout
    assert "(check digits; VIES not configured)" in first.stdout
    assert "[4/11] Acme publishes a data product" in first.stdout
    assert 'describes gx:DataProduct "Traffic counts Hamburg"' in first.stdout
    assert "label SC from the clearing house; published in its catalogue" in first.stdout
    assert "searches 'traffic hamburg' → 1 result" in first.stdout
    assert "facets: type DataProduct (1); country DE (1); label SC (1)" in first.stdout
    assert first.stdout.count("compliance: Standard Compliance (label credential valid until") == 2
    assert "[8/11] Revocation" in first.stdout
    assert "[9/11] Contract negotiation" in first.stdout
    assert "[10/11] Data transfer" in first.stdout
    assert "verified" in first.stdout
    assert "refused (403 dataplane.agreement_revoked)" in first.stdout
    assert "refused (403 vc.revoked)" in first.stdout
    assert "All steps succeeded" in first.stdout
    # A second run reopens the same federation (keys, certificates, databases).
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.stdout
    # The clearing house set itself up once: the same terms, each role trusted once.
    assert second.stdout.count("compliance: Standard Compliance") == 2
    # The data product is published again (a newer version), still found once.
    assert "searches 'traffic hamburg' → 1 result" in second.stdout


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


def test_onboarding_keeps_the_label_and_the_setup_is_idempotent(
    federation: LocalFederation,
) -> None:
    house = federation["clearing-house"].node
    set_up_clearing_house(house)
    set_up_clearing_house(house)
    assert house.compliance is not None
    registry = house.compliance.registry
    roles = [p.role for p in registry.list_parties() if p.did == house.identity.did]
    assert roles == ["compliance_issuer", "notary"]
    assert list(registry.terms_snapshot()[1]).count(terms_hash(DEMO_TERMS.read_text())) == 1

    report = onboard(federation, DEMO_PARTICIPANTS[1])
    assert "compliance: Standard Compliance" in report
    service = federation["consumer"].node.credential_service
    assert service is not None
    labels = [c for c in service.store.list_all() if "gx:LabelCredential" in c.types]
    assert labels
    assert labels[-1].issuer == federation["clearing-house"].did


def test_onboarding_reports_what_the_notary_refused(federation: LocalFederation) -> None:
    who = DemoParticipant("consumer", "DE000000001", "DE", "DEF0")
    with pytest.raises(OnboardingFailed) as refused:
        onboard(federation, who)
    assert "checking the VAT number: HTTP 4" in str(refused.value)
    assert "notary.invalid_number" in str(refused.value)
