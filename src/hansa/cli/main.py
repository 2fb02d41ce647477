"""``hansa``: the command line of a Hansa node (Typer, one module per domain)."""

from __future__ import annotations

import typer

from hansa import __version__

app = typer.Typer(
    name="hansa",
    help="Hansa: a federated, sovereign data ecosystem (Gaia-X) in Python.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command()
def version() -> None:
    """Print Hansa's version."""
    typer.echo(__version__)


@app.command()
def serve() -> None:
    """Run a node with the roles in its settings (HANSA_* environment)."""
    import uvicorn

    from hansa.app import create_app
    from hansa.settings import Settings

    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
    )
