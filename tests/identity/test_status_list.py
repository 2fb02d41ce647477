"""Bitstring Status List v1.0, pure parts: encoding, bit order, entries, the status check."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import pytest

from hansa.errors import BadRequest, Forbidden, HansaError, PayloadTooLarge, ValidationFailed
from hansa.identity.keys import b64url
from hansa.identity.status_list import (
    MIN_LENGTH,
    StatusEntry,
    StatusPurpose,
    check_status,
    decode_list,
    encode_list,
    get_bit,
    new_bitstring,
    read_status,
    set_bit,
    status_entries,
    status_list_credential,
    status_list_entry,
)

# The encodedList of the spec's examples (a revocation list with no bit set).
SPEC_ENCODED_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
LIST_URL = "https://issuer.example/status/revocation-1"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _list_credential(
    bits: bytes | bytearray, purpose: StatusPurpose = "revocation", url: str = LIST_URL
) -> dict[str, Any]:
    return status_list_credential(url, "did:web:issuer.example", purpose, bits, valid_from=NOW)


# --- encoding --------------------------------------------------------------------------------


def test_spec_example_decodes_to_an_empty_minimum_list() -> None:
    bits = decode_list(SPEC_ENCODED_LIST)
    assert len(bits) * 8 == MIN_LENGTH == 131_072
    assert not any(bits)
    # The spec's example index (Example 4: statusListIndex "94567") reads as not revoked.
    assert get_bit(bits, 94567) is False


def test_encoding_an_empty_list_reproduces_the_spec_example() -> None:
    assert encode_list(new_bitstring()) == SPEC_ENCODED_LIST


def test_round_trip_with_bits_set() -> None:
    bits = new_bitstring(MIN_LENGTH * 2)
    for index in (0, 1, 94567, MIN_LENGTH * 2 - 1):
        set_bit(bits, index)
    decoded = decode_list(encode_list(bits))
    assert decoded == bits
    assert [i for i in (0, 1, 2, 94567, 94568, MIN_LENGTH * 2 - 1) if get_bit(decoded, i)] == [
        0,
        1,
        94567,
        MIN_LENGTH * 2 - 1,
    ]


def test_index_zero_is_the_leftmost_bit_of_the_first_byte() -> None:
    bits = new_bitstring()
    set_bit(bits, 0)
    assert bits[0] == 0b1000_0000
    set_bit(bits, 7)
    assert bits[0] == 0b1000_0001
    set_bit(bits, 8)
    assert bits[1] == 0b1000_0000
    set_bit(bits, 0, False)
    assert bits[0] == 0b0000_0001
    assert len(bits) == 16384


def test_out_of_range_index() -> None:
    bits = new_bitstring()
    with pytest.raises(ValidationFailed) as err:
        set_bit(bits, MIN_LENGTH)
    assert err.value.code == "status.index_out_of_range"
    with pytest.raises(ValidationFailed):
        get_bit(bits, -1)


@pytest.mark.parametrize("length", [MIN_LENGTH - 8, MIN_LENGTH + 1, 0])
def test_lists_shorter_than_the_minimum_or_ragged_are_refused(length: int) -> None:
    with pytest.raises(BadRequest) as err:
        new_bitstring(length)
    assert err.value.code == "status.invalid_length"


def test_gzip_bomb_is_refused_without_inflating_it_all() -> None:
    # 64 MiB of zeros compress to ~64 KiB; the cap stops decompression at 4 MiB.
    bomb = "u" + b64url(gzip.compress(bytes(64 * 1024 * 1024), mtime=0))
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge) as err:
        decode_list(bomb)
    assert err.value.code == "status.list_too_large"
    # A caller's smaller cap applies too.
    with pytest.raises(PayloadTooLarge):
        decode_list(encode_list(new_bitstring(MIN_LENGTH * 2)), max_bytes=16384)


def _gzip_b64(data: bytes) -> str:
    return "u" + b64url(gzip.compress(data, mtime=0))


@pytest.mark.parametrize(
    ("encoded", "code"),
    [
        ("", "status.list_malformed"),
        (42, "status.list_malformed"),
        ("u" + "H4sI+/", "status.list_malformed"),  # standard base64, not base64url
        ("uAAAA", "status.list_malformed"),  # not GZIP
        ("u" + b64url(gzip.compress(bytes(16384))[:-12]), "status.list_malformed"),  # truncated
        ("u" + b64url(gzip.compress(bytes(16384)) + b"extra"), "status.list_malformed"),
        (_gzip_b64(bytes(1024)), "status.list_too_short"),
    ],
)
def test_malformed_lists(encoded: object, code: str) -> None:
    with pytest.raises(BadRequest) as err:
        decode_list(encoded)
    assert err.value.code == code
    assert err.value.pointer == "/credentialSubject/encodedList"


def test_statuslist2021_style_value_without_prefix_is_read() -> None:
    legacy = SPEC_ENCODED_LIST[1:]
    assert base64.urlsafe_b64decode(legacy + "==")[:2] == b"\x1f\x8b"
    assert decode_list(legacy) == bytes(16384)


# --- building -------------------------------------------------------------------------------


def test_entry_follows_the_spec() -> None:
    assert status_list_entry(LIST_URL, 94567, "revocation") == {
        "id": f"{LIST_URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": LIST_URL,
    }
    with pytest.raises(BadRequest) as err:
        status_list_entry(LIST_URL, 1, "refresh")  # type: ignore[arg-type]
    assert err.value.code == "status.invalid_purpose"


def test_list_credential_follows_the_spec() -> None:
    credential = status_list_credential(
        LIST_URL,
        "did:web:issuer.example",
        "suspension",
        new_bitstring(),
        valid_from=NOW,
        valid_until=datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert credential == {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": LIST_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": "did:web:issuer.example",
        "validFrom": "2026-03-01T12:00:00Z",
        "validUntil": "2026-03-02T00:00:00Z",
        "credentialSubject": {
            "id": f"{LIST_URL}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "suspension",
            "encodedList": SPEC_ENCODED_LIST,
        },
    }


# --- reading entries and checking --------------------------------------------------------------


def _credential(status: Any) -> dict[str, Any]:
    return {"issuer": "did:web:issuer.example", "credentialStatus": status}


def test_entries_from_an_object_or_a_list() -> None:
    single = status_entries(_credential(status_list_entry(LIST_URL, 5, "revocation")))
    assert single == [StatusEntry("revocation", 5, LIST_URL, "/credentialStatus")]
    both = status_entries(
        _credential(
            [
                status_list_entry(LIST_URL, 5, "revocation"),
                {**status_list_entry(LIST_URL, 6, "suspension"), "statusListIndex": 6},
                {"type": "BitstringStatusListEntry", "statusPurpose": "refresh"},
            ]
        )
    )
    assert [(e.purpose, e.index, e.pointer) for e in both] == [
        ("revocation", 5, "/credentialStatus/0"),
        ("suspension", 6, "/credentialStatus/1"),
    ]
    assert status_entries({"issuer": "x"}) == []


@pytest.mark.parametrize(
    ("change", "code", "pointer"),
    [
        ({"type": "StatusList2021Entry"}, "status.unsupported_type", "/credentialStatus/type"),
        ({"statusPurpose": "expiry"}, "status.invalid_entry", "/credentialStatus/statusPurpose"),
        ({"statusListIndex": "-1"}, "status.invalid_entry", "/credentialStatus/statusListIndex"),
        ({"statusListIndex": "1e3"}, "status.invalid_entry", "/credentialStatus/statusListIndex"),
        ({"statusListIndex": True}, "status.invalid_entry", "/credentialStatus/statusListIndex"),
        ({"statusListIndex": -4}, "status.invalid_entry", "/credentialStatus/statusListIndex"),
        (
            {"statusListCredential": "ftp://x/list"},
            "status.invalid_entry",
            "/credentialStatus/statusListCredential",
        ),
        ({"statusSize": 2}, "status.invalid_entry", "/credentialStatus/statusSize"),
    ],
)
def test_bad_entries(change: dict[str, Any], code: str, pointer: str) -> None:
    entry = {**status_list_entry(LIST_URL, 5, "revocation"), **change}
    with pytest.raises(BadRequest) as err:
        status_entries(_credential(entry))
    assert (err.value.code, err.value.pointer) == (code, pointer)


def test_entry_that_is_not_an_object() -> None:
    with pytest.raises(BadRequest) as err:
        status_entries(_credential(["https://issuer.example/status/1"]))
    assert (err.value.code, err.value.pointer) == ("status.invalid_entry", "/credentialStatus/0")


def _check(credential: dict[str, Any], lists: dict[str, dict[str, Any]]) -> None:
    check_status(credential, lists.__getitem__)


def test_check_passes_revoked_and_suspended() -> None:
    revocations, suspensions = new_bitstring(), new_bitstring()
    set_bit(revocations, 3)
    set_bit(suspensions, 4)
    suspension_url = LIST_URL.replace("revocation", "suspension")
    lists = {
        LIST_URL: _list_credential(revocations),
        suspension_url: _list_credential(suspensions, "suspension", suspension_url),
    }

    def credential(index: int) -> dict[str, Any]:
        return _credential(
            [
                status_list_entry(LIST_URL, index, "revocation"),
                status_list_entry(suspension_url, index, "suspension"),
            ]
        )

    _check(credential(5), lists)
    with pytest.raises(Forbidden) as err:
        _check(credential(3), lists)
    assert (err.value.code, err.value.pointer) == ("vc.revoked", "/credentialStatus")
    with pytest.raises(Forbidden) as err:
        _check(credential(4), lists)
    assert (err.value.code, err.value.pointer) == ("vc.suspended", "/credentialStatus")
    _check({"issuer": "did:web:issuer.example"}, {})  # no status: nothing to check


def test_list_of_another_purpose_is_refused() -> None:
    credential = _credential(status_list_entry(LIST_URL, 1, "suspension"))
    with pytest.raises(ValidationFailed) as err:
        _check(credential, {LIST_URL: _list_credential(new_bitstring(), "revocation")})
    assert err.value.code == "status.purpose_mismatch"


def test_index_beyond_the_published_list() -> None:
    credential = _credential(status_list_entry(LIST_URL, MIN_LENGTH, "revocation"))
    with pytest.raises(ValidationFailed) as err:
        _check(credential, {LIST_URL: _list_credential(new_bitstring())})
    assert (err.value.code, err.value.pointer) == (
        "status.index_out_of_range",
        "/credentialStatus/statusListIndex",
    )


@pytest.mark.parametrize(
    "broken",
    [
        {"type": ["VerifiableCredential"]},
        {"credentialSubject": {"type": "Something", "statusPurpose": "revocation"}},
        {"credentialSubject": "nope"},
    ],
)
def test_not_a_status_list_credential(broken: dict[str, Any]) -> None:
    entry = StatusEntry("revocation", 1, LIST_URL, "/credentialStatus")
    with pytest.raises(HansaError) as err:
        read_status({**_list_credential(new_bitstring()), **broken}, entry)
    assert err.value.code == "status.list_malformed"
