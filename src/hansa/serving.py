"""Run ASGI apps on uvicorn in background threads: several nodes in one process.

``hansa demo`` and the whole-federation tests use this to start a clearing house and
participant nodes, each on its own HTTPS port, without separate processes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from hansa.errors import ConfigurationError


class BackgroundServer:
    """One uvicorn server on its own thread and event loop."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int,
        certfile: Path | None = None,
        keyfile: Path | None = None,
        log_level: str = "warning",
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_certfile=str(certfile) if certfile else None,
            ssl_keyfile=str(keyfile) if keyfile else None,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self._run, name=f"hansa-server-{port}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        # uvicorn offers no start-up callback; its ``started`` flag is the documented signal.
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(
                    f"the server on {self.host}:{self.port} did not start"
                    + (f": {self._error}" if self._error else " (is the port in use?)"),
                    code="serve.start_failed",
                )
            time.sleep(0.01)
        return self

    def bound_port(self) -> int:
        """The port actually bound (useful when started with ``port=0``)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.port

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
