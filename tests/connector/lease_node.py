"""Serve a node (``HANSA_*`` settings) whose outbox leases and sweeps are short, for crash tests.

python tests/connector/lease_node.py LEASE_SECONDS SWEEP_SECONDS
"""

from __future__ import annotations

import sys
from datetime import timedelta

import uvicorn

from hansa.app import create_app
from hansa.node import Node
from hansa.settings import Settings


def main() -> None:
    lease, sweep = float(sys.argv[1]), float(sys.argv[2])
    settings = Settings()
    node = Node.open(settings)
    assert node.outbox is not None
    node.outbox.lease = timedelta(seconds=lease)
    node.outbox.sweep_seconds = sweep
    uvicorn.run(
        create_app(settings, node),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
