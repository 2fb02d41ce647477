"""Run a node as its own operating-system process (``hansa serve``), for benchmarks and tests.

A node in a thread of a shared process competes for one interpreter lock with every other
node; separate processes are how nodes really run. :func:`settings_env` writes a
``Settings`` as the ``HANSA_*`` environment ``hansa serve`` reads (secrets included, so
keep the environment to the child).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from hansa.settings import Settings


def settings_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    """``HANSA_*`` variables that rebuild ``settings`` (with ``overrides`` applied)."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = overrides.get(name, getattr(settings, name))
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif hasattr(value, "model_dump"):
            text = json.dumps(value.model_dump(mode="json"))
        elif isinstance(value, list | dict):
            text = json.dumps(value, default=str)
        else:
            text = str(value)
        env[f"HANSA_{name.upper()}"] = text
    return env


class NodeProcess:
    """``hansa serve`` in a child process, started and stopped (or killed) by its owner."""

    def __init__(
        self,
        settings: Settings,
        *,
        log_file: Path,
        argv: list[str] | None = None,
        **overrides: Any,
    ) -> None:
        """``argv`` replaces ``hansa serve`` (a script that serves the node another way)."""
        self.settings = settings.model_copy(update=overrides)
        self.log_file = log_file
        self.argv = argv or [sys.executable, "-c", "from hansa.cli.main import app; app()", "serve"]
        self._env = {**os.environ, **settings_env(settings, **overrides)}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls_cert_file else "http"
        return f"{scheme}://{self.settings.host}:{self.settings.port}"

    def start(self, ca_file: Path | None = None, timeout: float = 60.0) -> NodeProcess:
        """Start the child and wait until it answers ``/.well-known/did.json``."""
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (argv is chosen by the caller, not input)
                self.argv,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        verify: Any = ssl.create_default_context(cafile=str(ca_file)) if ca_file else False
        deadline = time.monotonic() + timeout
        with httpx.Client(verify=verify, timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the node exited; see {self.log_file}")
                try:
                    client.get(self.url + "/.well-known/did.json")
                    return self
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the node did not start; see {self.log_file}") from None
                    time.sleep(0.1)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), or kill after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process dies at once, leases and all."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
