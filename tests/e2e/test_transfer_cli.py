"""``hansa connector transfer``, ``agreement revoke`` and ``usage`` against the federation."""

from __future__ import annotations

import json

from transfer_helpers import agree, publish_file, write_asset_file
from typer.testing import CliRunner

from hansa.cli.main import app
from hansa.demo.federation import LocalFederation
from hansa.demo.processes import settings_env


def test_transfer_revoke_and_usage_from_the_command_line(federation: LocalFederation) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    path, content = write_asset_file(provider, 300_000)
    agreement_id = agree(federation, publish_file(federation, path))
    as_consumer, as_provider = settings_env(consumer.settings), settings_env(provider.settings)
    runner = CliRunner()

    pulled = runner.invoke(
        app,
        ["connector", "transfer", "--agreement", agreement_id, "--type", "HttpData-PULL", "--wait"],
        env=as_consumer,
    )
    assert pulled.exit_code == 0, pulled.stdout + pulled.stderr
    view = json.loads(pulled.stdout)
    assert view["state"] == "COMPLETED"
    assert view["size"] == len(content)

    listed = runner.invoke(app, ["connector", "transfers", "--state", "completed"], env=as_consumer)
    assert listed.exit_code == 0
    assert "COMPLETED" in listed.stderr

    revoked = runner.invoke(
        app,
        ["connector", "agreement", "revoke", agreement_id, "--reason", "ended"],
        env=as_provider,
    )
    assert revoked.exit_code == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked"] is True

    refused = runner.invoke(
        app, ["connector", "transfer", "--agreement", agreement_id, "--wait"], env=as_consumer
    )
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"]["code"] == "dataplane.agreement_revoked"

    usage = runner.invoke(
        app, ["connector", "usage", "--agreement", agreement_id, "--json"], env=as_provider
    )
    assert usage.exit_code == 0
    outcomes = [e["data"]["outcome"] for e in json.loads(usage.stdout)]
    assert outcomes == ["completed", "refused"]
    table = runner.invoke(app, ["connector", "usage", "--agreement", agreement_id], env=as_consumer)
    assert "receipt" in table.stderr

    unknown = runner.invoke(
        app, ["connector", "transfer", "--agreement", "urn:uuid:none"], env=as_consumer
    )
    assert unknown.exit_code == 1
    assert "transfer.agreement_not_found" in unknown.stderr
