"""``hansa gx``: build Gaia-X 25.11 credentials, check them against the shapes, sign them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from hansa.cli.common import cli_errors, console, open_node, print_json, read_json_or_text
from hansa.compliance import gx, gx_offerings
from hansa.compliance.migrate import MigrationWarning
from hansa.compliance.migrate import migrate as migrate_2210
from hansa.compliance.shapes import ShapeValidator
from hansa.errors import BadRequest

app = typer.Typer(
    help="Build, check and sign Gaia-X 25.11 credentials (LegalPerson, offerings ...).",
    no_args_is_help=True,
)

_OUT = typer.Option(None, "--out", "-o", help="write the credential to this file (default: print)")
_ISSUER = typer.Option(None, help="issuer DID (default: this node's DID)")
_ID = typer.Option(None, "--id", help="credential id (default: a urn:uuid)")


def _issuer(issuer: str | None) -> str:
    if issuer:
        return issuer
    with open_node() as node:
        return str(node.identity.did)


def _emit(credential: dict[str, Any], out: Path | None) -> None:
    if out is None:
        print_json(credential)
        return
    out.write_text(json.dumps(credential, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {credential['type'][-1]} credential to {out}")


@app.command("legal-person")
def legal_person(
    subject_id: str = typer.Option(..., help="IRI of the participant (the credential subject)"),
    country: str = typer.Option(..., help="legal address: ISO 3166-1 country code, e.g. DE"),
    registration_number: list[str] = typer.Option(
        ..., help="subject id of a registration-number credential (repeatable)"
    ),
    name: str | None = typer.Option(None, help="legal name"),
    region: str | None = typer.Option(None, help="legal address: NUTS-2 region, e.g. DE30"),
    street: str | None = typer.Option(None, help="legal address: street and number"),
    postal_code: str | None = typer.Option(None, help="legal address: postal code"),
    locality: str | None = typer.Option(None, help="legal address: city"),
    hq_country: str | None = typer.Option(None, help="headquarters country if not the legal one"),
    hq_region: str | None = typer.Option(None, help="headquarters NUTS-2 region"),
    issuer: str | None = _ISSUER,
    credential_id: str | None = _ID,
    out: Path | None = _OUT,
) -> None:
    """An unsigned gx:LegalPerson credential."""
    with cli_errors():
        legal = gx.address(
            country,
            region=region,
            street_address=street,
            postal_code=postal_code,
            locality=locality,
            field="legalAddress",
        )
        hq = (
            gx.address(hq_country, region=hq_region, field="headquartersAddress")
            if hq_country
            else None
        )
        credential = gx.legal_person(
            issuer=_issuer(issuer),
            subject_id=subject_id,
            name=name,
            legal_address=legal,
            headquarters_address=hq,
            registration_numbers=registration_number,
            credential_id=credential_id,
        )
        _emit(credential, out)


@app.command("registration-number")
def registration_number(
    kind: str = typer.Argument(
        ..., help="VatID, LeiCode, EORI, EUID, TaxID or LocalRegistrationNumber"
    ),
    value: str = typer.Argument(..., help="the number"),
    subject_id: str = typer.Option(..., help="IRI of the registration-number subject"),
    country: str | None = typer.Option(None, help="ISO 3166-1 country (VatID, LeiCode)"),
    subdivision: str | None = typer.Option(None, help="ISO 3166-2 subdivision (LeiCode)"),
    country_name: str | None = typer.Option(None, help="country in words (EORI)"),
    issuer: str | None = _ISSUER,
    credential_id: str | None = _ID,
    out: Path | None = _OUT,
) -> None:
    """An unsigned registration-number credential (a notary issues the signed one)."""
    with cli_errors():
        credential = gx.registration_number(
            kind,
            value,
            issuer=_issuer(issuer),
            subject_id=subject_id,
            country=country,
            subdivision=subdivision,
            country_name=country_name,
            credential_id=credential_id,
        )
        _emit(credential, out)


@app.command("issuer")
def issuer_command(
    subject_id: str = typer.Option(..., help="IRI of the issuer (the credential subject)"),
    tandc_sha256: str | None = typer.Option(None, help="SHA-256 (hex) of the accepted T&C"),
    tandc_file: Path | None = typer.Option(None, help="the T&C document, hashed here"),
    issuer: str | None = _ISSUER,
    credential_id: str | None = _ID,
    out: Path | None = _OUT,
) -> None:
    """An unsigned gx:Issuer credential accepting the federation's terms and conditions."""
    with cli_errors():
        if (tandc_sha256 is None) == (tandc_file is None):
            raise BadRequest(
                "give exactly one of --tandc-sha256 and --tandc-file",
                code="gx.missing_terms",
            )
        digest = tandc_sha256 or gx.terms_and_conditions_hash(Path(str(tandc_file)).read_bytes())
        credential = gx.issuer_credential(
            issuer=_issuer(issuer),
            subject_id=subject_id,
            terms_and_conditions_sha256=digest,
            credential_id=credential_id,
        )
        _emit(credential, out)


@app.command("service-offering")
def service_offering(
    subject_id: str = typer.Option(..., help="IRI of the offering"),
    provided_by: str = typer.Option(..., help="subject id of the provider's LegalPerson"),
    terms_url: str = typer.Option(..., help="URL of the offering's terms and conditions"),
    terms_sha256: str = typer.Option(..., help="SHA-256 (hex) of those terms"),
    name: str | None = typer.Option(None),
    description: str | None = typer.Option(None),
    keyword: list[str] = typer.Option([], help="keyword (repeatable)"),
    endpoint_url: str | None = typer.Option(None, help="the connector's DSP endpoint"),
    regime: list[str] = typer.Option([], help="data protection regime, e.g. GDPR2016"),
    policy_file: Path | None = typer.Option(None, help="ODRL policy (JSON) for the offering"),
    issuer: str | None = _ISSUER,
    credential_id: str | None = _ID,
    out: Path | None = _OUT,
) -> None:
    """An unsigned gx:ServiceOffering credential."""
    with cli_errors():
        policies = (
            [gx_offerings.access_usage_policy(policy_file.read_text(encoding="utf-8"))]
            if policy_file
            else []
        )
        credential = gx_offerings.service_offering(
            issuer=_issuer(issuer),
            subject_id=subject_id,
            provided_by=provided_by,
            terms=gx_offerings.terms_and_conditions(terms_url, terms_sha256),
            name=name,
            description=description,
            keywords=keyword,
            policies=policies,
            data_protection_regimes=regime,
            endpoint_url=endpoint_url,
            credential_id=credential_id,
        )
        _emit(credential, out)


def _parameter(text: str) -> dict[str, Any]:
    name, _, rest = text.partition("=")
    description, _, values = rest.rpartition(":")
    admissible = [v for v in values.split(",") if v]
    if not name or not admissible:
        raise BadRequest(
            f"--parameter {text!r}: write NAME=DESCRIPTION:VALUE1,VALUE2",
            code="gx.invalid_parameter",
        )
    return gx_offerings.configuration_parameter(name, description or name, admissible)


@app.command("data-product")
def data_product(
    subject_id: str = typer.Option(..., help="IRI of the data product"),
    provider: str = typer.Option(..., help="subject id of the provider's LegalPerson"),
    identifier: str = typer.Option(..., help="the product's identifier"),
    title: str = typer.Option(..., help="the product's name"),
    short_description: str = typer.Option(..., help="one line about the product"),
    launch_date: str = typer.Option(..., help="launch date, e.g. 2026-01-01"),
    terms_url: str = typer.Option(..., help="URL of the service terms"),
    terms_sha256: str = typer.Option(..., help="SHA-256 (hex) of the service terms"),
    usage_terms_url: str | None = typer.Option(None, help="usage terms (default: --terms-url)"),
    usage_terms_sha256: str | None = typer.Option(None),
    data_policy_url: str | None = typer.Option(None, help="usage data policy (default: terms)"),
    data_policy_sha256: str | None = typer.Option(None),
    legal_document: list[str] = typer.Option(..., help="URL of a legal document (repeatable)"),
    dataset: list[str] = typer.Option(..., help="dataset (DCAT id or description; repeatable)"),
    parameter: list[str] = typer.Option(
        ..., help="configuration parameter NAME=DESCRIPTION:V1,V2 (repeatable)"
    ),
    keyword: list[str] = typer.Option([], help="keyword (repeatable)"),
    issuer: str | None = _ISSUER,
    credential_id: str | None = _ID,
    out: Path | None = _OUT,
) -> None:
    """An unsigned gx:DataProduct credential."""
    with cli_errors():
        terms = gx_offerings.terms_and_conditions
        credential = gx_offerings.data_product(
            issuer=_issuer(issuer),
            subject_id=subject_id,
            provider=provider,
            identifier=identifier,
            title=title,
            short_description=short_description,
            launch_date=launch_date,
            terms=terms(terms_url, terms_sha256, kind="ServiceTermsAndConditions"),
            usage_terms=terms(
                usage_terms_url or terms_url,
                usage_terms_sha256 or terms_sha256,
                kind="UsageTermsAndConditions",
            ),
            usage_data_policy=terms(
                data_policy_url or terms_url, data_policy_sha256 or terms_sha256
            ),
            legal_documents=[gx_offerings.legal_document(url) for url in legal_document],
            datasets=dataset,
            parameters=[_parameter(p) for p in parameter],
            keywords=keyword,
            credential_id=credential_id,
        )
        _emit(credential, out)


@app.command("validate")
def validate(
    sources: list[str] = typer.Argument(..., help="credential JSON files, checked together"),
    shapes: Path | None = typer.Option(None, help="SHACL bundle (default: Hansa's shapes)"),
) -> None:
    """Check credentials against the Gaia-X shapes; list every violation with its fix."""
    with cli_errors():
        validator = ShapeValidator.official(shapes) if shapes else ShapeValidator.builtin()
        pairs: list[tuple[str, dict[str, Any]]] = []
        for source in sources:
            credential = read_json_or_text(source)
            if not isinstance(credential, dict):
                raise BadRequest(f"{source} is not a JSON credential", code="gx.invalid_input")
            pairs.append((str(credential.get("id") or source), credential))
        violations = validator.validate(pairs)
        if violations:
            print_json([v.to_json() for v in violations])
            raise typer.Exit(1)
        console.print(f"[green]conforms[/]: {len(pairs)} credential(s)")


@app.command("sign")
def sign(
    source: str = typer.Argument(..., help="unsigned credential (JSON file, or - for stdin)"),
    out: Path | None = _OUT,
) -> None:
    """Sign a Gaia-X credential as this node (vc+jwt); prints or writes the token."""
    with cli_errors(), open_node() as node:
        credential = read_json_or_text(source)
        if not isinstance(credential, dict):
            raise BadRequest("the credential must be a JSON object", code="gx.invalid_input")
        info, private_key = node.identity.wallet.signing_key()
        token = gx.sign_gx_credential(credential, private_key, f"{node.identity.did}#{info.id}")
        if out is None:
            typer.echo(token)
        else:
            out.write_text(token + "\n", encoding="utf-8")
            console.print(f"wrote vc+jwt to {out}")


@app.command("migrate")
def migrate(
    source: str = typer.Argument(
        ..., help="a Gaia-X 22.10 credential or presentation (JSON-LD, JsonWebSignature2020)"
    ),
    sign_: bool = typer.Option(
        False, "--sign", help="sign each 25.11 credential as this node (vc+jwt)"
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the result to this file"),
) -> None:
    """Carry Gaia-X 22.10 credentials over to 25.11: proofs verified, losses listed.

    Prints {"credentials": [...], "warnings": [...], "violations": [...]}; exits 1 when the
    25.11 credentials do not pass the shapes together.
    """
    with cli_errors(), open_node() as node:
        document = read_json_or_text(source)
        if not isinstance(document, dict):
            raise BadRequest(f"{source} is not a JSON-LD document", code="gx.invalid_input")
        results = migrate_2210(document, node.identity.resolver)
        warnings = [w for r in results for w in r.warnings]
        migrated = [(i, r.credential) for i, r in enumerate(results) if r.credential is not None]
        violations = ShapeValidator.builtin().validate([(str(c["id"]), c) for _, c in migrated])
        credentials: list[Any] = [c for _, c in migrated]
        if sign_:
            did = node.identity.did
            info, private_key = node.identity.wallet.signing_key()
            credentials = []
            for index, credential in migrated:
                if credential["issuer"] != did:
                    where = (
                        "/issuer" if len(results) == 1 else f"/verifiableCredential/{index}/issuer"
                    )
                    warnings.append(
                        MigrationWarning(
                            where,
                            f"issuer {credential['issuer']} is replaced by this node's DID {did}: "
                            "the 22.10 signature does not carry over",
                        )
                    )
                    credential = {**credential, "issuer": did}
                credentials.append(
                    gx.sign_gx_credential(credential, private_key, f"{did}#{info.id}")
                )
        report = {
            "credentials": credentials,
            "warnings": [w.to_json() for w in warnings],
            "violations": [v.to_json() for v in violations],
        }
        for warning in warnings:
            console.print(
                f"[yellow]warning[/] {warning.pointer}: {warning.message}", highlight=False
            )
        if out is None:
            print_json(report)
        else:
            out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            console.print(f"wrote {len(credentials)} credential(s) to {out}")
        if violations:
            console.print(f"[red]{len(violations)} violation(s) of the 25.11 shapes[/]")
            raise typer.Exit(1)
