"""What every CLI command shares: the node it works on, JSON in and out, errors as text."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from hansa.errors import HansaError
from hansa.node import Node
from hansa.settings import Settings

console = Console(stderr=True)


class CliState:
    """Options given before the command (``hansa --data-dir D keys list``)."""

    data_dir: Path | None = None


state = CliState()


def load_settings() -> Settings:
    settings = Settings()
    if state.data_dir is not None:
        settings = settings.model_copy(update={"data_dir": state.data_dir})
    return settings


@contextmanager
def open_node() -> Iterator[Node]:
    """The local node (its database and wallet in the data directory), closed afterwards."""
    node = Node.open(load_settings())
    try:
        yield node
    finally:
        node.close()


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print a HansaError as 'error [code]: detail' and exit 1, instead of a traceback."""
    try:
        yield
    except HansaError as exc:
        where = f" (at {exc.pointer})" if exc.pointer else ""
        message = escape(f"[{exc.code}]: {exc.detail}{where}")
        console.print(f"[bold red]error[/] {message}", highlight=False)
        raise typer.Exit(1) from None


def read_json_or_text(source: str) -> Any:
    """Read a file (or '-' for stdin): JSON when it parses, else the stripped text (a JWT)."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))
