"""``hansa vc`` and ``hansa vp``: issue, verify, revoke credentials; presentations."""

from __future__ import annotations

from typing import Any

import typer

from hansa.cli.common import cli_errors, console, open_node, print_json, read_json_or_text
from hansa.errors import BadRequest
from hansa.identity.verifier import VC_JWT_MEDIA_TYPES, unwrap_jwt

app = typer.Typer(help="Issue, verify and revoke verifiable credentials.", no_args_is_help=True)
vp_app = typer.Typer(help="Create and verify verifiable presentations.", no_args_is_help=True)


@app.command("issue")
def issue(
    source: str = typer.Argument(..., help="unsigned credential (JSON file, or - for stdin)"),
    securing: str = typer.Option("vc-jose", help="vc-jose (vc+jwt) or eddsa-rdfc-2022"),
    status: bool = typer.Option(True, help="add revocation and suspension status entries"),
    jwt: bool = typer.Option(False, "--jwt", help="print the bare vc+jwt instead of JSON"),
) -> None:
    """Sign a credential as this node."""
    with cli_errors(), open_node() as node:
        credential = read_json_or_text(source)
        if not isinstance(credential, dict):
            raise BadRequest("the credential must be a JSON object", code="vc.invalid_credential")
        if securing not in ("vc-jose", "eddsa-rdfc-2022"):
            raise BadRequest(
                "--securing is vc-jose or eddsa-rdfc-2022", code="vc.unsupported_securing"
            )
        issued = node.identity.issue_credential(
            credential,
            securing="vc-jose" if securing == "vc-jose" else "eddsa-rdfc-2022",
            with_status=status,
        )
        token = unwrap_jwt(issued, VC_JWT_MEDIA_TYPES) if jwt else None
        if token is not None:
            typer.echo(token)
        else:
            print_json(issued)


@app.command("verify")
def verify(
    source: str = typer.Argument(..., help="credential: JSON, vc+jwt, or - for stdin"),
    trusted_issuer: bool = typer.Option(False, help="require a trusted issuer"),
    x509: bool = typer.Option(False, help="require the key to chain to a trusted root CA"),
) -> None:
    """Verify a credential: signature, key, validity, status, and the trust asked for."""
    with cli_errors(), open_node() as node:
        result = node.identity.verify_credential(
            read_json_or_text(source), trusted_issuer=trusted_issuer, x509=x509
        )
        console.print(f"[green]verified[/]: {', '.join(result.checks)} (issuer {result.issuer})")
        print_json(result.credential)


def _set_status(credential_id: str, state: Any) -> None:
    with cli_errors(), open_node() as node:
        node.identity.set_credential_status(credential_id, state)
        console.print(f"{credential_id}: {state}")


@app.command("revoke")
def revoke(credential_id: str) -> None:
    """Revoke a credential this node issued (final)."""
    _set_status(credential_id, "revoked")


@app.command("suspend")
def suspend(credential_id: str) -> None:
    """Suspend a credential this node issued."""
    _set_status(credential_id, "suspended")


@app.command("reactivate")
def reactivate(credential_id: str) -> None:
    """Lift the suspension of a credential."""
    _set_status(credential_id, "active")


@vp_app.command("issue")
def vp_issue(
    sources: list[str] = typer.Argument(..., help="vc+jwt credentials (files)"),
    audience: str | None = typer.Option(None, help="the verifier (aud)"),
    nonce: str | None = typer.Option(None, help="the verifier's challenge"),
) -> None:
    """Wrap credentials into a vp+jwt signed by this node."""
    with cli_errors(), open_node() as node:
        tokens = []
        for source in sources:
            token = unwrap_jwt(read_json_or_text(source), VC_JWT_MEDIA_TYPES)
            if token is None:
                raise BadRequest(f"{source} holds no vc+jwt", code="vp.invalid_credential")
            tokens.append(token)
        typer.echo(node.identity.issue_presentation(tokens, audience=audience, nonce=nonce))


@vp_app.command("verify")
def vp_verify(
    source: str = typer.Argument(..., help="presentation: vp+jwt or JSON, or - for stdin"),
    challenge: str | None = typer.Option(None, help="expected nonce / challenge"),
    domain: str | None = typer.Option(None, help="expected audience / domain"),
    trusted_issuer: bool = typer.Option(False, help="require trusted issuers"),
    x509: bool = typer.Option(False, help="require keys chained to a trusted root CA"),
) -> None:
    """Verify a presentation and every credential in it."""
    with cli_errors(), open_node() as node:
        result = node.identity.verify_presentation(
            read_json_or_text(source),
            challenge=challenge,
            domain=domain,
            trusted_issuer=trusted_issuer,
            x509=x509,
        )
        console.print(
            f"[green]verified[/]: holder {result.holder}, {len(result.credentials)} credential(s)"
        )
        print_json(result.to_json())
