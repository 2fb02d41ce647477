"""HTTP API of the identity role (filled in by the trust-layer work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["identity"])
