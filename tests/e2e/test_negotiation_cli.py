"""``hansa connector negotiate`` and ``negotiations`` against the running federation."""

from __future__ import annotations

import json

from test_negotiation_flow import publish
from typer.testing import CliRunner

from hansa.cli.main import app
from hansa.demo.federation import LocalFederation
from hansa.demo.processes import settings_env

OPEN = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [{"action": "use"}],
}


def test_negotiate_from_the_command_line(federation: LocalFederation) -> None:
    provider, consumer = federation["provider"], federation["consumer"]
    offer_id = publish(federation, OPEN)
    env = settings_env(consumer.settings)
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["connector", "negotiate", "--provider", provider.base_url, "--offer", offer_id, "--wait"],
        env=env,
    )
    assert result.exit_code == 0, result.stdout
    view = json.loads(result.stdout)
    assert view["state"] == "FINALIZED"
    assert view["offerId"] == offer_id

    listed = runner.invoke(app, ["connector", "negotiations", "--state", "finalized"], env=env)
    assert listed.exit_code == 0, listed.stdout
    assert "FINALIZED" in listed.stderr  # tables go to stderr

    unknown = runner.invoke(
        app,
        ["connector", "negotiate", "--provider", provider.base_url, "--offer", "urn:offer:none"],
        env=env,
    )
    assert unknown.exit_code == 1
    assert "negotiation.offer_not_in_catalog" in unknown.stderr
