"""Free loopback ports for tests that start servers."""

from __future__ import annotations

import random
import socket


def free_port_block(size: int = 3) -> int:
    """A base port with ``size`` consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randint(20000, 40000)
        sockets = []
        try:
            for offset in range(size):
                sock = socket.socket()
                sockets.append(sock)  # closed below even when its bind fails
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free block of ports")
