"""One running federation (clearing house, provider, consumer over HTTPS) shared by e2e tests."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hansa.demo.federation import LocalFederation


def free_port_block(size: int = 3) -> int:
    """A base port with ``size`` consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randint(20000, 40000)
        sockets = []
        try:
            for offset in range(size):
                sock = socket.socket()
                sock.bind(("127.0.0.1", base + offset))
                sockets.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free block of ports")


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    root: Path = tmp_path_factory.mktemp("federation")
    with LocalFederation(root, base_port=free_port_block()) as running:
        yield running
