"""``hansa``: the command line of a Hansa node (Typer, one module per domain)."""

from __future__ import annotations

from pathlib import Path

import typer

from hansa import __version__
from hansa.cli import catalogue, clearing_house, connector, did, federation, gx, keys, trust, vc
from hansa.cli.common import state

app = typer.Typer(
    name="hansa",
    help="Hansa: a federated, sovereign data ecosystem (Gaia-X) in Python.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(keys.app, name="keys")
app.add_typer(did.app, name="did")
app.add_typer(vc.app, name="vc")
app.add_typer(vc.vp_app, name="vp")
app.add_typer(trust.app, name="trust")
app.add_typer(federation.app, name="federation")
app.add_typer(connector.app, name="connector")
app.add_typer(gx.app, name="gx")
app.add_typer(catalogue.app, name="catalogue")
app.add_typer(clearing_house.app, name="clearing-house")


@app.callback()
def main(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="the node's data directory (default: HANSA_DATA_DIR)"
    ),
) -> None:
    """Hansa: a federated, sovereign data ecosystem (Gaia-X) in Python."""
    state.data_dir = data_dir


@app.command()
def version() -> None:
    """Print Hansa's version."""
    typer.echo(__version__)


@app.command()
def serve() -> None:
    """Run a node with the roles in its settings (HANSA_* environment)."""
    import uvicorn

    from hansa.app import create_app
    from hansa.cli.common import load_settings

    settings = load_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
    )


@app.command()
def demo(
    once: bool = typer.Option(False, "--once", help="run the flow once and exit (0 = all passed)"),
    reset: bool = typer.Option(False, "--reset", help="start over with a new federation"),
    directory: Path | None = typer.Option(
        None, "--dir", help="where the demo keeps its files (default: DATA_DIR/demo)"
    ),
    base_port: int = typer.Option(8440, help="first of the three HTTPS ports"),
) -> None:
    """Run the local demo federation: a clearing house and two participants over HTTPS."""
    from hansa.cli.common import load_settings
    from hansa.demo.run import run_demo

    root = directory or load_settings().data_dir / "demo"
    raise typer.Exit(run_demo(root, once=once, reset=reset, base_port=base_port))
