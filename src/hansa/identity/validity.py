"""The validity period of a credential (VC Data Model 2.0 ``validFrom`` / ``validUntil``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hansa.errors import BadRequest, Forbidden

CLOCK_SKEW = timedelta(seconds=60)


def parse_datetime(value: Any, pointer: str) -> datetime:
    """An XML Schema dateTime with a zone, as credentials carry it; naive ones are refused."""
    if not isinstance(value, str):
        raise BadRequest(
            f"{pointer} must be a dateTime string", code="vc.invalid_date", pointer=pointer
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(
            f"{pointer} is not a valid dateTime: {value!r}", code="vc.invalid_date", pointer=pointer
        ) from exc
    if parsed.tzinfo is None:
        raise BadRequest(
            f"{pointer} needs a time zone (e.g. 'Z'): {value!r}",
            code="vc.invalid_date",
            pointer=pointer,
        )
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """``2026-11-27T10:00:00Z``: second precision, UTC, as issuers write it."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def check_validity_period(credential: dict[str, Any], now: datetime | None = None) -> None:
    """Refuse a credential outside its validity period (60 s clock skew allowed).

    Reads ``validFrom``/``validUntil`` (VCDM 2.0) and, for older credentials,
    ``issuanceDate``/``expirationDate`` (VCDM 1.1).
    """
    now = now or datetime.now(UTC)
    for field in ("validFrom", "issuanceDate"):
        if field in credential:
            start = parse_datetime(credential[field], f"/{field}")
            if start - CLOCK_SKEW > now:
                raise Forbidden(
                    f"the credential is not valid yet: {field} is {credential[field]}",
                    code="vc.not_yet_valid",
                    pointer=f"/{field}",
                )
    for field in ("validUntil", "expirationDate"):
        if field in credential:
            end = parse_datetime(credential[field], f"/{field}")
            if end + CLOCK_SKEW < now:
                raise Forbidden(
                    f"the credential has expired: {field} was {credential[field]}",
                    code="vc.expired",
                    pointer=f"/{field}",
                )
