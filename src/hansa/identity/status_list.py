"""W3C Bitstring Status List v1.0: the bitstring, its entries and credential, and the status check.

https://www.w3.org/TR/vc-bitstring-status-list/

- The bitstring holds one bit per credential (``statusSize`` 1); index 0 is the
  left-most (most significant) bit of the first byte.
- ``encodedList`` is the bitstring GZIP-compressed, then base64url without
  padding, with the multibase prefix ``u``.
- An uncompressed bitstring has at least 131,072 bits (16 KiB), so that one
  credential hides among many (herd privacy).

Everything here is pure: the caller fetches and verifies status list credentials
and passes them in (:class:`hansa.identity.status_service.StatusChecker` does that
with a cache and fails closed).
"""

from __future__ import annotations

import base64
import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from hansa.errors import BadRequest, Forbidden, PayloadTooLarge, ValidationFailed
from hansa.identity.keys import b64url
from hansa.identity.validity import format_datetime

StatusPurpose = Literal["revocation", "suspension"]
STATUS_PURPOSES: tuple[StatusPurpose, ...] = ("revocation", "suspension")
# Purposes the spec defines that say nothing about validity; entries with them are skipped.
INFORMATIONAL_PURPOSES = frozenset({"refresh", "message"})

MIN_LENGTH = 131_072
"""The spec's minimum number of entries (bits) in a list: 16 KiB uncompressed."""
MAX_DECODED_BYTES = 4 * 1024 * 1024
"""Default cap on a decompressed list (32 Mi entries): a gzip bomb stops here."""

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
ENTRY_TYPE = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
LIST_TYPE = "BitstringStatusList"

_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# --- the bitstring ---------------------------------------------------------------------


def new_bitstring(length: int = MIN_LENGTH) -> bytearray:
    """An all-zero bitstring of ``length`` bits (a multiple of 8, at least :data:`MIN_LENGTH`)."""
    if length < MIN_LENGTH or length % 8:
        raise BadRequest(
            f"a status list needs a multiple of 8 and at least {MIN_LENGTH} entries, got {length}",
            code="status.invalid_length",
        )
    return bytearray(length // 8)


def _check_index(bits: bytes | bytearray, index: int) -> None:
    if not 0 <= index < len(bits) * 8:
        raise ValidationFailed(
            f"status index {index} is outside the list of {len(bits) * 8} entries",
            code="status.index_out_of_range",
        )


def get_bit(bits: bytes | bytearray, index: int) -> bool:
    """The bit at ``index``; index 0 is the most significant bit of the first byte."""
    _check_index(bits, index)
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def set_bit(bits: bytearray, index: int, value: bool = True) -> None:
    """Set (or clear) the bit at ``index`` in place."""
    _check_index(bits, index)
    mask = 0x80 >> (index & 7)
    if value:
        bits[index >> 3] |= mask
    else:
        bits[index >> 3] &= ~mask & 0xFF


def encode_list(bits: bytes | bytearray) -> str:
    """``encodedList``: GZIP (zero timestamp: equal lists encode equally), base64url, 'u'."""
    if len(bits) * 8 < MIN_LENGTH:
        raise BadRequest(
            f"a status list needs at least {MIN_LENGTH} entries, got {len(bits) * 8}",
            code="status.invalid_length",
        )
    # Level 6 (zlib's default, as the spec's examples were made) reproduces the
    # spec's example byte for byte; level 9 would differ in the header's XFL byte.
    return "u" + b64url(gzip.compress(bytes(bits), compresslevel=6, mtime=0))


def _malformed(reason: str) -> BadRequest:
    return BadRequest(
        f"the status list's encodedList is malformed: {reason}",
        code="status.list_malformed",
        pointer="/credentialSubject/encodedList",
    )


def decode_list(encoded: object, *, max_bytes: int = MAX_DECODED_BYTES) -> bytes:
    """The bitstring of an ``encodedList``; refuses gzip bombs, short lists and bad encodings.

    The multibase prefix ``u`` is required by the spec; a value without it is still
    read when it is plain base64url of GZIP data (StatusList2021 wrote it that way).
    """
    if not isinstance(encoded, str) or not encoded:
        raise _malformed("it must be a non-empty string")
    text = encoded[1:] if encoded.startswith("u") else encoded
    if not set(text) <= _B64URL_ALPHABET:
        raise _malformed("it is not base64url without padding after the multibase prefix 'u'")
    try:
        compressed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise _malformed(f"bad base64url ({exc})") from exc
    # Decompress in bounded steps: never hold more than max_bytes + 1 of output.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        bits = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as exc:
        raise _malformed(f"not GZIP data ({exc})") from exc
    if len(bits) > max_bytes:
        raise PayloadTooLarge(
            f"the status list decompresses to more than {max_bytes} bytes; refused",
            code="status.list_too_large",
            pointer="/credentialSubject/encodedList",
        )
    if not inflater.eof:
        raise _malformed("the GZIP stream is truncated")
    if inflater.unused_data:
        raise _malformed("there is data after the GZIP stream")
    if len(bits) * 8 < MIN_LENGTH:
        raise BadRequest(
            f"the status list has {len(bits) * 8} entries; the spec requires at least {MIN_LENGTH}",
            code="status.list_too_short",
            pointer="/credentialSubject/encodedList",
        )
    return bits


# --- building entries and list credentials ----------------------------------------------


def status_list_entry(list_url: str, index: int, purpose: StatusPurpose) -> dict[str, Any]:
    """A ``BitstringStatusListEntry`` for a credential's ``credentialStatus``."""
    if purpose not in STATUS_PURPOSES:
        raise BadRequest(f"unknown status purpose {purpose!r}", code="status.invalid_purpose")
    return {
        "id": f"{list_url}#{index}",
        "type": ENTRY_TYPE,
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def status_list_credential(
    list_url: str,
    issuer: str,
    purpose: StatusPurpose,
    bits: bytes | bytearray,
    *,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """An unsigned ``BitstringStatusListCredential`` (VCDM 2.0) publishing ``bits``."""
    credential: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": LIST_TYPE,
            "statusPurpose": purpose,
            "encodedList": encode_list(bits),
        },
    }
    if valid_until is not None:
        credential["validUntil"] = format_datetime(valid_until)
    return credential


# --- reading a credential's status -------------------------------------------------------


@dataclass(frozen=True)
class StatusEntry:
    """One ``credentialStatus`` entry that bears on validity (revocation or suspension)."""

    purpose: StatusPurpose
    index: int
    list_url: str
    pointer: str


def _types(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _parse_index(value: Any, pointer: str) -> int:
    # The spec writes the index as a base-10 string; a bare JSON integer is accepted too.
    if isinstance(value, int) and not isinstance(value, bool):
        index = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        index = int(value)
    else:
        raise BadRequest(
            'statusListIndex must be a non-negative integer written as a string, e.g. "94567"',
            code="status.invalid_entry",
            pointer=pointer,
        )
    if index < 0:
        raise BadRequest(
            "statusListIndex must not be negative", code="status.invalid_entry", pointer=pointer
        )
    return index


def status_entries(credential: dict[str, Any]) -> list[StatusEntry]:
    """The revocation and suspension entries of ``credentialStatus`` (an object or a list).

    An entry of a type other than ``BitstringStatusListEntry`` is refused: a status
    that cannot be checked must not pass as "not revoked".
    """
    raw = credential.get("credentialStatus")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    entries: list[StatusEntry] = []
    for position, item in enumerate(items):
        pointer = f"/credentialStatus/{position}" if isinstance(raw, list) else "/credentialStatus"
        if not isinstance(item, dict):
            raise BadRequest(
                "a credentialStatus entry must be an object",
                code="status.invalid_entry",
                pointer=pointer,
            )
        if ENTRY_TYPE not in _types(item.get("type")):
            raise BadRequest(
                f"credentialStatus type {item.get('type')!r} is not supported; "
                f"only {ENTRY_TYPE} can be checked",
                code="status.unsupported_type",
                pointer=f"{pointer}/type",
            )
        purpose = item.get("statusPurpose")
        if purpose in INFORMATIONAL_PURPOSES:
            continue
        if purpose not in STATUS_PURPOSES:
            raise BadRequest(
                f"statusPurpose {purpose!r} is not one of revocation, suspension, refresh, message",
                code="status.invalid_entry",
                pointer=f"{pointer}/statusPurpose",
            )
        if item.get("statusSize", 1) not in (1, "1"):
            raise BadRequest(
                "only statusSize 1 is supported for revocation and suspension",
                code="status.invalid_entry",
                pointer=f"{pointer}/statusSize",
            )
        url = item.get("statusListCredential")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise BadRequest(
                "statusListCredential must be the http(s) URL of the status list credential",
                code="status.invalid_entry",
                pointer=f"{pointer}/statusListCredential",
            )
        index = _parse_index(item.get("statusListIndex"), f"{pointer}/statusListIndex")
        entries.append(StatusEntry(purpose, index, url, pointer))
    return entries


@dataclass(frozen=True)
class DecodedStatusList:
    """A verified status list credential with its bitstring decoded once (a verifier's cache).

    Decoding (base64url, then GZIP of at least 16 KiB) was most of the cost of a status
    check; a cached list is decoded when it is loaded, not at every check.
    """

    credential: dict[str, Any]
    bits: bytes


def read_status(
    list_credential: dict[str, Any] | DecodedStatusList,
    entry: StatusEntry,
    *,
    max_bytes: int = MAX_DECODED_BYTES,
) -> bool:
    """The bit of ``entry`` in a (verified) status list credential; True means revoked/suspended."""
    bits: bytes | None = None
    if isinstance(list_credential, DecodedStatusList):
        bits = list_credential.bits
        list_credential = list_credential.credential
    if LIST_CREDENTIAL_TYPE not in _types(list_credential.get("type")):
        raise BadRequest(
            f"{entry.list_url} is not a {LIST_CREDENTIAL_TYPE}",
            code="status.list_malformed",
            pointer="/type",
        )
    subject = list_credential.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    if not isinstance(subject, dict) or LIST_TYPE not in _types(subject.get("type")):
        raise BadRequest(
            f"the credentialSubject of {entry.list_url} is not one {LIST_TYPE}",
            code="status.list_malformed",
            pointer="/credentialSubject",
        )
    if entry.purpose not in _types(subject.get("statusPurpose")):
        raise ValidationFailed(
            f"the entry's statusPurpose is {entry.purpose!r} but the list at {entry.list_url} "
            f"is for {subject.get('statusPurpose')!r}",
            code="status.purpose_mismatch",
            pointer=f"{entry.pointer}/statusPurpose",
        )
    if bits is None:
        bits = decode_list(subject.get("encodedList"), max_bytes=max_bytes)
    if entry.index >= len(bits) * 8:
        raise ValidationFailed(
            f"statusListIndex {entry.index} is outside the list of {len(bits) * 8} entries",
            code="status.index_out_of_range",
            pointer=f"{entry.pointer}/statusListIndex",
        )
    return get_bit(bits, entry.index)


def check_status(
    credential: dict[str, Any],
    fetch_list: Callable[[str], dict[str, Any] | DecodedStatusList],
    *,
    max_bytes: int = MAX_DECODED_BYTES,
) -> None:
    """Refuse a revoked or suspended credential.

    ``fetch_list`` returns the verified status list credential at a
    ``statusListCredential`` URL, or it with its bitstring already decoded (it raises if the
    list cannot be had). A set
    revocation bit raises Forbidden ``vc.revoked``, a set suspension bit ``vc.suspended``.
    """
    for entry in status_entries(credential):
        if not read_status(fetch_list(entry.list_url), entry, max_bytes=max_bytes):
            continue
        if entry.purpose == "revocation":
            raise Forbidden(
                f"the credential has been revoked by its issuer (list {entry.list_url}, "
                f"index {entry.index})",
                code="vc.revoked",
                pointer="/credentialStatus",
            )
        raise Forbidden(
            f"the credential is suspended by its issuer (list {entry.list_url}, "
            f"index {entry.index}); it may be reinstated later",
            code="vc.suspended",
            pointer="/credentialStatus",
        )
