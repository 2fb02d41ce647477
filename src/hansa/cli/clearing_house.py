"""``hansa clearing-house``: set up the local clearing house (shapes, terms, trusted parties).

Works on the local node's database, as the admin API does (``/registry/...``); the node must
run the ``clearing-house`` role (``HANSA_ROLES='["identity","clearing-house"]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from hansa.cli.common import cli_errors, console, open_node, print_json
from hansa.compliance.registry import ROLES
from hansa.compliance.service import ComplianceService
from hansa.errors import BadRequest, ConfigurationError

app = typer.Typer(
    help="Set up this node's clearing house: shapes, terms and conditions, trusted parties.",
    no_args_is_help=True,
)
shapes_app = typer.Typer(
    help="SHACL shapes the compliance service checks with.", no_args_is_help=True
)
terms_app = typer.Typer(help="The federation's terms and conditions.", no_args_is_help=True)
parties_app = typer.Typer(
    help=f"Trusted parties by role ({', '.join(ROLES)}).", no_args_is_help=True
)
app.add_typer(shapes_app, name="shapes")
app.add_typer(terms_app, name="terms")
app.add_typer(parties_app, name="parties")

_ROLE = typer.Option(..., "--role", help=" | ".join(ROLES))


@contextmanager
def clearing_house() -> Iterator[ComplianceService]:
    """The local node's compliance service; ``clearing_house.role_missing`` if it runs none."""
    with cli_errors(), open_node() as node:
        if node.compliance is None:
            raise ConfigurationError(
                "this node does not run the clearing-house role; add it to its roles, e.g. "
                """HANSA_ROLES='["identity","clearing-house"]'""",
                code="clearing_house.role_missing",
            )
        yield node.compliance


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(
            f"cannot read {path} as UTF-8 text: {exc}", code="clearing_house.unreadable_file"
        ) from exc


@shapes_app.command("install")
def shapes_install(
    source: Path = typer.Argument(..., help="SHACL shapes (Turtle), e.g. the Gaia-X bundle"),
    version: str = typer.Option(..., "--version", help="the bundle's version, e.g. 25.11"),
    name: str | None = typer.Option(None, help="a name for the bundle (default: the file name)"),
) -> None:
    """Compile and install a shapes bundle; the compliance service checks with it from now."""
    with clearing_house() as compliance:
        info = compliance.install_shapes(name or source.stem, version, _read(source))
        console.print(f"installed shapes {info.name} {info.version}")
        print_json(info.to_json())


@shapes_app.command("list")
def shapes_list() -> None:
    """The installed shapes bundles (the newest one is in use)."""
    with clearing_house() as compliance:
        print_json([s.to_json() for s in compliance.registry.list_shapes()])


@terms_app.command("add")
def terms_add(
    source: Path = typer.Argument(..., help="the terms and conditions (UTF-8 text)"),
    version: str = typer.Option(..., "--version", help="the version, e.g. 2026-01"),
    not_current: bool = typer.Option(
        False, "--not-current", help="record it without making it the current version"
    ),
) -> None:
    """Record a T&C version (its SHA-256 is what gx:Issuer credentials must carry)."""
    with clearing_house() as compliance:
        terms = compliance.registry.add_terms(version, _read(source), current=not not_current)
        print_json(terms.to_json(with_text=False))


@terms_app.command("list")
def terms_list() -> None:
    """Every T&C version with its SHA-256; one is current."""
    with clearing_house() as compliance:
        print_json([t.to_json(with_text=False) for t in compliance.registry.list_terms()])


@parties_app.command("add")
def parties_add(
    did: str = typer.Argument(..., help="the party's DID"),
    role: str = _ROLE,
    label: str | None = typer.Option(None, help="a name to show with the DID"),
) -> None:
    """Trust a DID in a role (a notary's registration numbers, an assessor's certificates)."""
    with clearing_house() as compliance:
        print_json(compliance.registry.add_party(role, did, label).to_json())


@parties_app.command("list")
def parties_list(
    role: str | None = typer.Option(None, "--role", help="only this role"),
) -> None:
    """The trusted parties (of one role, or all)."""
    with clearing_house() as compliance:
        print_json([p.to_json() for p in compliance.registry.list_parties(role)])


@parties_app.command("remove")
def parties_remove(
    did: str = typer.Argument(..., help="the party's DID"), role: str = _ROLE
) -> None:
    """Stop trusting a DID in a role."""
    with clearing_house() as compliance:
        compliance.registry.remove_party(role, did)
        console.print(f"{did} is no longer trusted as {role}")
