"""Hansa: a federated, sovereign data ecosystem (the Gaia-X idea) in Python."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
