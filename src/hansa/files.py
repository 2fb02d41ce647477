"""Files only their owner may read: private keys, wallet secrets, API keys."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start: a chmod after writing leaves a window where
    # the file is world-readable. fchmod also tightens a file that already existed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def read_or_create_secret(path: Path) -> str:
    """The random secret kept in ``path``, made (0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    write_private_file(path, (secret + "\n").encode())
    return secret
