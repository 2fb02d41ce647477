"""Status lists end to end: the issuer's service on SQLite/PostgreSQL, lists served over real
HTTP on 127.0.0.1, and the verifier's checker (signatures, issuer match, cache, fail closed)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hansa.db import transaction
from hansa.errors import Conflict, Forbidden, HansaError, NotFound, UpstreamUnavailable
from hansa.identity.keys import (
    PrivateKey,
    PublicKey,
    b64url,
    b64url_decode,
    generate_private_key,
    sign,
    verify,
)
from hansa.identity.models import IssuedCredential, StatusList
from hansa.identity.status_list import MIN_LENGTH, decode_list, get_bit
from hansa.identity.status_service import StatusChecker, StatusListService

ISSUER_A = "did:web:issuer-a.example"
ISSUER_B = "did:web:issuer-b.example"

# --- a compact JWS, made with hansa.identity.keys (vc_jose is wired in by the integrator) ----


def jws_signer(key: PrivateKey, issuer: str) -> Callable[[dict[str, Any]], str]:
    header = {"alg": "EdDSA", "typ": "vc+jwt", "kid": f"{issuer}#key-1"}

    def sign_credential(credential: dict[str, Any]) -> str:
        signing_input = (
            b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(credential).encode())
        )
        return signing_input + "." + b64url(sign(key, signing_input.encode()))

    return sign_credential


def jws_verifier(keys: dict[str, PublicKey]) -> Callable[[str], tuple[dict[str, Any], str]]:
    """Verify with the key registered for the kid's DID; the payload's issuer must be that DID."""

    def verify_token(token: str) -> tuple[dict[str, Any], str]:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        issuer = header["kid"].split("#")[0]
        key = keys[issuer]
        if not verify(key, b64url_decode(signature_b64), f"{header_b64}.{payload_b64}".encode()):
            raise ValueError("bad signature")
        payload: dict[str, Any] = json.loads(b64url_decode(payload_b64))
        if payload["issuer"] != issuer:
            raise ValueError("issuer is not the signer")
        return payload, issuer

    return verify_token


# --- a status list host on 127.0.0.1 ---------------------------------------------------------


class ListHost:
    """Serves whatever ``app(path) -> (status, body)`` answers; counts requests."""

    def __init__(self) -> None:
        self.app: Callable[[str], tuple[int, bytes]] = lambda _path: (404, b"")
        self.hits = 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits += 1
                status, body = host.app(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/vc+jwt")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, service: StatusListService, signer: Callable[[dict[str, Any]], str]) -> None:
        def app(path: str) -> tuple[int, bytes]:
            list_id = path.removeprefix("/status/")
            try:
                return 200, service.status_list_credential(list_id, signer).encode()
            except NotFound:
                return 404, b""

        self.app = app

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def fetch(url: str) -> bytes:
    """A plain fetch over loopback (the integrator wires in the guarded client)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open otherwise
        raise
    return body


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def host() -> Iterator[ListHost]:
    server = ListHost()
    yield server
    server.stop()


@pytest.fixture
def key_a() -> PrivateKey:
    return generate_private_key("Ed25519")


@pytest.fixture
def service(
    sessions: sessionmaker[Session], host: ListHost, key_a: PrivateKey
) -> StatusListService:
    issuer_service = StatusListService(sessions, host.base_url, issuer=ISSUER_A)
    host.serve(issuer_service, jws_signer(key_a, ISSUER_A))
    return issuer_service


def _checker(keys: dict[str, PublicKey], clock: Callable[[], float] | None = None) -> StatusChecker:
    return StatusChecker(fetch, jws_verifier(keys), ttl_seconds=60, clock=clock or FakeClock())


def _credential(entries: list[dict[str, Any]], issuer: str = ISSUER_A) -> dict[str, Any]:
    return {"issuer": issuer, "credentialStatus": entries}


# --- issuer side -------------------------------------------------------------------------------


def test_allocation_gives_both_entries_at_one_index(service: StatusListService) -> None:
    first = service.allocate(
        "urn:uuid:1", subject="did:web:holder.example", types=["gx:LegalPerson"]
    )
    second = service.allocate("urn:uuid:2", purposes=["revocation"])
    base = service.list_url("")
    assert first == [
        {
            "id": f"{base}revocation-1#0",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "0",
            "statusListCredential": f"{base}revocation-1",
        },
        {
            "id": f"{base}suspension-1#0",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "suspension",
            "statusListIndex": "0",
            "statusListCredential": f"{base}suspension-1",
        },
    ]
    assert [(e["statusPurpose"], e["statusListIndex"]) for e in second] == [("revocation", "1")]
    info = service.status_of("urn:uuid:1")
    assert (info.pair, info.index, info.revoked, info.suspended) == (1, 0, False, False)


def test_same_credential_id_twice_is_a_conflict(service: StatusListService) -> None:
    service.allocate("urn:uuid:dup")
    with pytest.raises(Conflict) as err:
        service.allocate("urn:uuid:dup")
    assert err.value.code == "status.duplicate_credential"


def test_a_full_list_rolls_over_to_a_new_pair(
    service: StatusListService, sessions: sessionmaker[Session]
) -> None:
    service.allocate("urn:uuid:first")
    with transaction(sessions) as session:
        session.execute(update(StatusList).values(next_index=MIN_LENGTH - 1))
    last = service.allocate("urn:uuid:last")
    rolled = service.allocate("urn:uuid:rolled")
    assert last[0]["statusListIndex"] == str(MIN_LENGTH - 1)
    assert last[0]["statusListCredential"].endswith("/status/revocation-1")
    assert rolled[0]["statusListIndex"] == "0"
    assert rolled[0]["statusListCredential"].endswith("/status/revocation-2")
    assert rolled[1]["statusListCredential"].endswith("/status/suspension-2")


def test_concurrent_issuers_never_share_an_index(
    service: StatusListService, sessions: sessionmaker[Session]
) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def issue(worker: int) -> None:
        try:
            start.wait()  # all issuers race for the very first list
            for n in range(5):
                service.allocate(f"urn:uuid:{worker}-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as session:
        indexes = sorted(row.status_index for row in session.query(IssuedCredential))
        lists = {row.id: row.next_index for row in session.query(StatusList)}
    assert indexes == list(range(20))
    assert lists == {"revocation-1": 20, "suspension-1": 20}


def test_revoke_suspend_unsuspend(service: StatusListService) -> None:
    service.allocate("urn:uuid:a")
    service.allocate("urn:uuid:b")
    service.suspend("urn:uuid:b")
    assert service.status_of("urn:uuid:b").suspended
    service.unsuspend("urn:uuid:b")
    assert not service.status_of("urn:uuid:b").suspended
    service.revoke("urn:uuid:a")
    service.revoke("urn:uuid:a")  # idempotent
    assert service.status_of("urn:uuid:a").revoked
    assert not service.status_of("urn:uuid:b").revoked
    with pytest.raises(Conflict) as err:
        service.unrevoke("urn:uuid:a")
    assert err.value.code == "status.revocation_final"
    with pytest.raises(Conflict) as err:
        service.suspend("urn:uuid:a")
    assert err.value.code == "status.already_revoked"
    assert service.status_of("urn:uuid:a").revoked


@pytest.mark.parametrize("action", ["revoke", "suspend", "unsuspend", "unrevoke", "status_of"])
def test_unknown_credential(service: StatusListService, action: str) -> None:
    with pytest.raises(NotFound) as err:
        getattr(service, action)("urn:uuid:never-issued")
    assert err.value.code == "status.unknown_credential"


def test_published_list_reflects_the_bits(service: StatusListService) -> None:
    service.allocate("urn:uuid:0")
    service.allocate("urn:uuid:1")
    service.revoke("urn:uuid:1")
    now = datetime(2026, 5, 1, tzinfo=UTC)
    credential = service.list_credential("revocation-1", now=now)
    assert credential["id"] == service.list_url("revocation-1")
    assert credential["issuer"] == ISSUER_A
    assert credential["validFrom"] == "2026-05-01T00:00:00Z"
    assert credential["validUntil"] == "2026-05-02T00:00:00Z"
    bits = decode_list(credential["credentialSubject"]["encodedList"])
    assert (get_bit(bits, 0), get_bit(bits, 1)) == (False, True)
    assert service.list_credential("suspension-1")["credentialSubject"]["statusPurpose"] == (
        "suspension"
    )
    with pytest.raises(NotFound) as err:
        service.status_list_credential("revocation-9", lambda c: "")
    assert err.value.code == "status.unknown_list"


def test_issuer_defaults_to_the_did_web_of_the_base_url(sessions: sessionmaker[Session]) -> None:
    assert StatusListService(sessions, "https://localhost:8443").issuer == (
        "did:web:localhost%3A8443"
    )


# --- verifier side -----------------------------------------------------------------------------


def test_checker_follows_revocation_and_suspension(
    service: StatusListService, key_a: PrivateKey
) -> None:
    checker = _checker({ISSUER_A: key_a.public_key()})
    credential = _credential(service.allocate("urn:uuid:x"))
    checker.check(credential)
    service.suspend("urn:uuid:x")
    checker.invalidate()
    with pytest.raises(Forbidden) as err:
        checker.check(credential)
    assert (err.value.code, err.value.pointer) == ("vc.suspended", "/credentialStatus")
    service.unsuspend("urn:uuid:x")
    checker.invalidate()
    checker.check(credential)
    service.revoke("urn:uuid:x")
    checker.invalidate()
    with pytest.raises(Forbidden) as err:
        checker.check(credential)
    assert (err.value.code, err.value.pointer) == ("vc.revoked", "/credentialStatus")


def test_lists_are_cached_for_the_ttl(
    service: StatusListService, key_a: PrivateKey, host: ListHost
) -> None:
    clock = FakeClock()
    checker = _checker({ISSUER_A: key_a.public_key()}, clock)
    credential = _credential(service.allocate("urn:uuid:c", purposes=["revocation"]))
    checker.check(credential)
    checker.check(credential)
    assert host.hits == 1
    service.revoke("urn:uuid:c")
    clock.now += 59
    checker.check(credential)  # still the cached list: revocation shows after the TTL
    assert host.hits == 1
    clock.now += 2
    with pytest.raises(Forbidden) as err:
        checker.check(credential)
    assert err.value.code == "vc.revoked"
    assert host.hits == 2


def test_list_signed_by_another_issuer(
    sessions: sessionmaker[Session], service: StatusListService, key_a: PrivateKey
) -> None:
    key_b = generate_private_key("Ed25519")
    other_host = ListHost()
    try:
        other = StatusListService(sessions, other_host.base_url, issuer=ISSUER_B)
        other_host.serve(other, jws_signer(key_b, ISSUER_B))
        # A credential of issuer A whose status points at issuer B's (valid) list.
        entries = other.allocate("urn:uuid:b-1")
        checker = _checker({ISSUER_A: key_a.public_key(), ISSUER_B: key_b.public_key()})
        with pytest.raises(Forbidden) as err:
            checker.check(_credential(entries, issuer=ISSUER_A))
        assert (err.value.code, err.value.pointer) == (
            "status.issuer_mismatch",
            "/credentialStatus",
        )
        checker.check(_credential(entries, issuer=ISSUER_B))
        # The verified issuer passed in wins over the credential's own claim.
        with pytest.raises(Forbidden):
            checker.check(_credential(entries, issuer=ISSUER_B), issuer=ISSUER_A)
    finally:
        other_host.stop()


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _assert_unavailable(checker: StatusChecker, credential: dict[str, Any], cause: str) -> None:
    with pytest.raises(UpstreamUnavailable) as err:
        checker.check(credential)
    problem = err.value.to_problem()
    assert (problem["code"], problem["status"], problem["cause"]) == (
        "status.unavailable",
        503,
        cause,
    )


def test_unreachable_list_fails_closed(service: StatusListService, key_a: PrivateKey) -> None:
    entries = service.allocate("urn:uuid:u")
    for entry in entries:
        entry["statusListCredential"] = f"http://127.0.0.1:{_unused_port()}/status/revocation-1"
    _assert_unavailable(_checker({ISSUER_A: key_a.public_key()}), _credential(entries), "URLError")


def test_server_error_fails_closed(
    service: StatusListService, key_a: PrivateKey, host: ListHost
) -> None:
    credential = _credential(service.allocate("urn:uuid:e"))
    host.app = lambda _path: (500, b"oops")
    _assert_unavailable(_checker({ISSUER_A: key_a.public_key()}), credential, "HTTPError")


def test_list_with_a_bad_signature_fails_closed(service: StatusListService) -> None:
    credential = _credential(service.allocate("urn:uuid:s"))
    impostor = generate_private_key("Ed25519")
    _assert_unavailable(_checker({ISSUER_A: impostor.public_key()}), credential, "ValueError")


def test_failures_are_not_cached(
    service: StatusListService, key_a: PrivateKey, host: ListHost
) -> None:
    serve_real = host.app
    credential = _credential(service.allocate("urn:uuid:f"))
    checker = _checker({ISSUER_A: key_a.public_key()})
    host.app = lambda _path: (503, b"")
    with pytest.raises(UpstreamUnavailable):
        checker.check(credential)
    host.app = serve_real
    checker.check(credential)


def _signed_list(key: PrivateKey, url: str, **changes: Any) -> bytes:
    now = datetime.now(UTC)
    credential: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": ISSUER_A,
        "validFrom": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": "u" + b64url(gzip.compress(bytes(MIN_LENGTH // 8), mtime=0)),
        },
    }
    credential.update(changes)
    return jws_signer(key, ISSUER_A)(credential).encode()


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        (
            {"validUntil": "2020-01-01T00:00:00Z"},
            "vc.expired",
        ),
        (
            {
                "credentialSubject": {
                    "type": "BitstringStatusList",
                    "statusPurpose": "revocation",
                    "encodedList": "u" + b64url(gzip.compress(bytes(8 * 1024 * 1024), mtime=0)),
                }
            },
            "status.list_too_large",
        ),
        (
            {"credentialSubject": {"type": "Other", "statusPurpose": "revocation"}},
            "status.list_malformed",
        ),
    ],
)
def test_signed_but_unusable_lists_fail_closed(
    host: ListHost, key_a: PrivateKey, changes: dict[str, Any], cause: str
) -> None:
    url = f"{host.base_url}/status/revocation-1"
    host.app = lambda _path: (200, _signed_list(key_a, url, **changes))
    credential = _credential(
        [
            {
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "7",
                "statusListCredential": url,
            }
        ]
    )
    checker = _checker({ISSUER_A: key_a.public_key()})
    _assert_unavailable(checker, credential, cause)
    # A good list at the same URL is accepted afterwards: nothing bad was cached.
    host.app = lambda _path: (200, _signed_list(key_a, url))
    checker.check(credential)


def test_list_ttl_shortens_the_cache(host: ListHost, key_a: PrivateKey) -> None:
    url = f"{host.base_url}/status/revocation-1"
    subject = {
        "id": f"{url}#list",
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": "u" + b64url(gzip.compress(bytes(MIN_LENGTH // 8), mtime=0)),
        "ttl": 5000,
    }
    host.app = lambda _path: (200, _signed_list(key_a, url, credentialSubject=subject))
    clock = FakeClock()
    checker = _checker({ISSUER_A: key_a.public_key()}, clock)
    entry = {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "1",
        "statusListCredential": url,
    }
    checker.check(_credential([entry]))
    clock.now += 6
    checker.check(_credential([entry]))
    assert host.hits == 2


def test_credential_without_issuer_cannot_be_checked(key_a: PrivateKey) -> None:
    with pytest.raises(HansaError) as err:
        _checker({}).check({"credentialStatus": []})
    assert err.value.code == "status.issuer_mismatch"


def test_cache_is_bounded(service: StatusListService, key_a: PrivateKey, host: ListHost) -> None:
    checker = StatusChecker(
        fetch, jws_verifier({ISSUER_A: key_a.public_key()}), 60, FakeClock(), max_cached_lists=1
    )
    revocation = _credential(service.allocate("urn:uuid:r", purposes=["revocation"]))
    suspension = _credential(service.allocate("urn:uuid:s", purposes=["suspension"]))
    checker.check(revocation)
    checker.check(suspension)  # evicts the revocation list
    checker.check(revocation)
    assert host.hits == 3
