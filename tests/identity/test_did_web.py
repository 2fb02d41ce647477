"""did:web resolution against real HTTPS servers on 127.0.0.1 (trustme CA)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.identity.credential_cache import VerifiedCredentials
from hansa.identity.did import (
    build_did_document,
    did_key_from_key,
    did_web_from_url,
    resolve_verification_key,
)
from hansa.identity.did_web import (
    DidWebResolver,
    UniversalResolver,
    check_did_document,
    did_web_document_url,
    resolution_result,
)
from hansa.identity.keys import generate_private_key, public_jwk
from hansa.identity.vc_jose import CREDENTIALS_V2, issue_vc_jwt, verify_vc_jwt
from hansa.settings import HttpSettings
from tls_helpers import (
    RunningServer,
    bytes_route,
    https_server,
    json_route,
    redirect_route,
    write_ca_bundle,
)

DNS = {
    "localhost": ["127.0.0.1"],
    "node.test": ["127.0.0.1"],
    "intranet.test": ["10.0.0.7"],
    "metadata.test": ["169.254.169.254"],
}


def fake_resolver(host: str, port: int) -> Sequence[str]:
    if host not in DNS:
        raise OSError(f"unknown test host {host}")
    return DNS[host]


class ManualClock:
    """A clock the test moves by hand, so TTLs are tested without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[RunningServer]:
    with https_server(ca) as running:
        yield running


@pytest.fixture
def client(ca: trustme.CA, tmp_path: Path) -> Iterator[GuardedClient]:
    settings = HttpSettings(
        allow_loopback=True, timeout_seconds=5.0, ca_bundle=write_ca_bundle(ca, tmp_path)
    )
    with GuardedClient(settings, resolver=fake_resolver) as guarded:
        yield guarded


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def resolver(client: GuardedClient, clock: ManualClock) -> DidWebResolver:
    return DidWebResolver(client, ttl_seconds=300, clock=clock, negative_ttl_seconds=30)


def document_for(did: str) -> dict[str, Any]:
    return build_did_document(did, [("key-1", generate_private_key("Ed25519"))])


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(HansaError) as excinfo:
        call(*args)
    return excinfo.value.code


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:example.com", "https://example.com/.well-known/did.json"),
        ("did:web:localhost%3A8443", "https://localhost:8443/.well-known/did.json"),
        ("did:web:example.com:user:alice", "https://example.com/user/alice/did.json"),
        ("did:web:example.com%3A9000:a#key-1", "https://example.com:9000/a/did.json"),
    ],
)
def test_document_url(did: str, url: str) -> None:
    assert did_web_document_url(did) == url


@pytest.mark.parametrize(
    "did",
    [
        "did:web:127.0.0.1",
        "did:web:127.0.0.1%3A8443",
        "did:web:%5B%3A%3A1%5D",  # [::1]
        "did:web:%5B%3A%3A1%5D%3A8443",
        "did:web:2130706433",  # 127.0.0.1 as one number
        "did:web:127.1",
        "did:web:0x7f.0.0.1",
        "did:web:169.254.169.254",
    ],
)
def test_ip_literal_did_web_refused(resolver: DidWebResolver, did: str) -> None:
    assert code_of(resolver.resolve, did) == "did.forbidden_target"


@pytest.mark.parametrize(
    "did", ["did:web:exa_mple.com", "did:web:-bad.com", "did:web:example.com%3Aport", "did:web:"]
)
def test_malformed_did_web(resolver: DidWebResolver, did: str) -> None:
    assert code_of(resolver.resolve, did) == "did.invalid"


# --- resolving -------------------------------------------------------------------------------


def test_resolves_with_percent_encoded_port(
    server: RunningServer, resolver: DidWebResolver
) -> None:
    did = did_web_from_url(server.origin)
    assert did == f"did:web:localhost%3A{server.port}"
    server.routes["/.well-known/did.json"] = json_route(document_for(did))
    document = resolver.resolve(did)
    assert document["id"] == did
    key, method = resolve_verification_key(resolver, f"{did}#key-1", "assertionMethod")
    assert method["id"] == f"{did}#key-1"
    assert public_jwk(key) == document["verificationMethod"][0]["publicKeyJwk"]
    _, _, headers, _ = server.requests[-1]
    assert "application/did+json" in headers["Accept"]


def test_resolves_path_did(server: RunningServer, resolver: DidWebResolver) -> None:
    did = f"did:web:node.test%3A{server.port}:participants:alice"
    server.routes["/participants/alice/did.json"] = json_route(document_for(did))
    assert resolver.resolve(did)["id"] == did


def test_not_found(server: RunningServer, resolver: DidWebResolver) -> None:
    did = f"did:web:localhost%3A{server.port}:nobody"
    with pytest.raises(HansaError) as excinfo:
        resolver.resolve(did)
    assert excinfo.value.code == "did.not_found"
    assert excinfo.value.status_code == 404
    server.routes["/gone/did.json"] = json_route({}, status=410)
    assert code_of(resolver.resolve, f"did:web:localhost%3A{server.port}:gone") == "did.not_found"


def test_server_error_is_unreachable(server: RunningServer, resolver: DidWebResolver) -> None:
    server.routes["/.well-known/did.json"] = json_route({}, status=500)
    assert code_of(resolver.resolve, f"did:web:localhost%3A{server.port}") == "did.unreachable"


def test_unreachable_host(resolver: DidWebResolver) -> None:
    assert code_of(resolver.resolve, "did:web:nowhere.test") == "did.unreachable"
    # Port 9 on loopback: nothing listens.
    assert code_of(resolver.resolve, "did:web:localhost%3A9") == "did.unreachable"


def test_document_with_wrong_id(server: RunningServer, resolver: DidWebResolver) -> None:
    did = f"did:web:localhost%3A{server.port}"
    server.routes["/.well-known/did.json"] = json_route(document_for("did:web:evil.example"))
    with pytest.raises(HansaError) as excinfo:
        resolver.resolve(did)
    assert excinfo.value.code == "did.invalid_document"
    assert excinfo.value.pointer == "/id"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b"not json", None),
        (b"[1, 2]", None),
    ],
)
def test_document_not_an_object(
    server: RunningServer, resolver: DidWebResolver, body: bytes, pointer: str | None
) -> None:
    server.routes["/.well-known/did.json"] = bytes_route(body)
    with pytest.raises(HansaError) as excinfo:
        resolver.resolve(f"did:web:localhost%3A{server.port}")
    assert excinfo.value.code == "did.invalid_document"
    assert excinfo.value.pointer == pointer


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"verificationMethod": {"id": "x"}}, "/verificationMethod"),
        ({"verificationMethod": [{"id": "#k"}]}, "/verificationMethod/0"),
        ({"verificationMethod": [{"id": "#k", "type": "Multikey"}] * 101}, "/verificationMethod"),
        ({"assertionMethod": [42]}, "/assertionMethod/0"),
        ({"service": [{"id": "#s"}]}, "/service/0"),
        ({"controller": 7}, "/controller"),
        ({"@context": 7}, "/@context"),
        ({"alsoKnownAs": "x"}, "/alsoKnownAs"),
    ],
)
def test_document_shape_checks(change: dict[str, Any], pointer: str) -> None:
    did = "did:web:example.com"
    document = document_for(did) | change
    with pytest.raises(HansaError) as excinfo:
        check_did_document(did, document)
    assert excinfo.value.code == "did.invalid_document"
    assert excinfo.value.pointer == pointer


def test_document_too_large(server: RunningServer, client: GuardedClient) -> None:
    did = f"did:web:localhost%3A{server.port}"
    server.routes["/.well-known/did.json"] = json_route(document_for(did) | {"pad": "x" * 5000})
    small = DidWebResolver(client, ttl_seconds=60, max_document_bytes=1000)
    assert code_of(small.resolve, did) == "did.too_large"


def test_redirect_to_forbidden_target(server: RunningServer, resolver: DidWebResolver) -> None:
    server.routes["/.well-known/did.json"] = redirect_route("https://metadata.test/latest")
    did = f"did:web:localhost%3A{server.port}"
    assert code_of(resolver.resolve, did) == "did.redirect_refused"


def test_name_resolving_to_private_address(resolver: DidWebResolver) -> None:
    with pytest.raises(HansaError) as excinfo:
        resolver.resolve("did:web:intranet.test")
    assert excinfo.value.code == "did.forbidden_target"
    assert excinfo.value.extra["setting"] == "allow_private"
    assert code_of(resolver.resolve, "did:web:metadata.test") == "did.forbidden_target"


# --- cache -----------------------------------------------------------------------------------


def test_cache_hit_within_ttl_and_refetch_after(
    server: RunningServer, resolver: DidWebResolver, clock: ManualClock
) -> None:
    did = f"did:web:localhost%3A{server.port}"
    path = "/.well-known/did.json"
    server.routes[path] = json_route(document_for(did))
    first = resolver.resolve(did)
    # The cached document is shared: a caller cannot change it for every later caller.
    with pytest.raises(TypeError):
        first["id"] = "mutated by the caller"
    with pytest.raises(TypeError):
        first["verificationMethod"][0]["publicKeyJwk"]["x"] = "another key"
    with pytest.raises(TypeError):
        first["authentication"].append("did:web:evil#key")
    own = copy.deepcopy(first)
    own["id"] = "a caller's own copy"
    clock.now += 299
    assert resolver.resolve(did + "#key-1")["id"] == did
    assert resolver.resolve(did) is first
    assert server.hits(path) == 1
    rotated = document_for(did)
    server.routes[path] = json_route(rotated)
    clock.now += 2
    assert resolver.resolve(did) == rotated
    assert server.hits(path) == 2
    resolver.invalidate(did)
    resolver.resolve(did)
    assert server.hits(path) == 3


def test_not_found_is_cached_briefly(
    server: RunningServer, resolver: DidWebResolver, clock: ManualClock
) -> None:
    did = f"did:web:localhost%3A{server.port}"
    path = "/.well-known/did.json"
    assert code_of(resolver.resolve, did) == "did.not_found"
    assert code_of(resolver.resolve, did) == "did.not_found"
    assert server.hits(path) == 1
    server.routes[path] = json_route(document_for(did))
    clock.now += 31
    assert resolver.resolve(did)["id"] == did
    assert server.hits(path) == 2


def test_unreachable_is_not_cached(ca: trustme.CA, resolver: DidWebResolver) -> None:
    with https_server(ca) as running:
        port = running.port
        did = f"did:web:localhost%3A{port}"
        running.routes["/.well-known/did.json"] = json_route({}, status=503)
        assert code_of(resolver.resolve, did) == "did.unreachable"
        running.routes["/.well-known/did.json"] = json_route(document_for(did))
        assert resolver.resolve(did)["id"] == did


def test_concurrent_resolution(server: RunningServer, resolver: DidWebResolver) -> None:
    did = f"did:web:localhost%3A{server.port}"
    server.routes["/.well-known/did.json"] = json_route(document_for(did))
    ids: list[str] = []

    def work() -> None:
        for _ in range(5):
            ids.append(resolver.resolve(did)["id"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ids == [did] * 20
    assert server.hits("/.well-known/did.json") <= 4


def test_a_remembered_credential_follows_the_document_cache(
    server: RunningServer, resolver: DidWebResolver, clock: ManualClock
) -> None:
    # A verification remembered by VerifiedCredentials lasts exactly as long as the DID
    # document it was checked against: a rotated key is seen once the document's TTL ends.
    did = f"did:web:localhost%3A{server.port}"
    key = generate_private_key("Ed25519")
    server.routes["/.well-known/did.json"] = json_route(build_did_document(did, [("key-1", key)]))
    credential = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiableCredential"],
        "issuer": did,
        "credentialSubject": {"id": "did:web:holder.test"},
    }
    token = issue_vc_jwt(credential, key, f"{did}#key-1")
    credentials = VerifiedCredentials(resolver)
    now = datetime.now(UTC)
    assert credentials.verify(token, now).issuer == did
    # key-1 is now another key: the old signature no longer verifies.
    server.routes["/.well-known/did.json"] = json_route(document_for(did))
    clock.now += 299
    assert credentials.verify(token, now).issuer == did  # as verify_vc_jwt: the cached document
    assert verify_vc_jwt(token, resolver, now=now).issuer == did
    clock.now += 2
    assert code_of(credentials.verify, token, now) == "vc.signature_invalid"
    assert code_of(lambda: verify_vc_jwt(token, resolver, now=now)) == "vc.signature_invalid"


# --- several methods, resolution results ------------------------------------------------------


def test_universal_resolver(server: RunningServer, resolver: DidWebResolver) -> None:
    did_web = f"did:web:localhost%3A{server.port}"
    server.routes["/.well-known/did.json"] = json_route(document_for(did_web))
    own = document_for("did:web:self.test")
    universal = UniversalResolver(resolver, local={"did:web:self.test": own})
    did_key = did_key_from_key(generate_private_key("Ed25519"))
    assert universal.resolve(did_key)["id"] == did_key
    assert universal.resolve(did_web)["id"] == did_web
    assert universal.resolve("did:web:self.test#key-1") == own
    assert code_of(universal.resolve, "did:ion:abc") == "did.unsupported_method"
    assert code_of(universal.resolve, "did:key:zNotAKey") == "did.invalid"
    assert code_of(universal.resolve, "not-a-did") == "did.invalid"
    assert code_of(UniversalResolver(None).resolve, did_web) == "did.unsupported_method"


def test_resolution_results(server: RunningServer, resolver: DidWebResolver) -> None:
    did_web = f"did:web:localhost%3A{server.port}"
    server.routes["/.well-known/did.json"] = json_route(document_for(did_web))
    universal = UniversalResolver(resolver)

    ok = resolution_result(did_web, universal)
    assert ok["didDocument"]["id"] == did_web
    assert ok["didResolutionMetadata"] == {"contentType": "application/did+ld+json"}
    assert ok["didDocumentMetadata"] == {}

    def error(did: str) -> str:
        result = resolution_result(did, universal)
        assert result["didDocument"] is None
        return str(result["didResolutionMetadata"]["error"])

    assert error("did:web:localhost%3A" + str(server.port) + ":nobody") == "notFound"
    assert error("did:foo") == "invalidDid"
    assert error("did:ion:abc") == "methodNotSupported"
    assert error("did:web:127.0.0.1") == "forbiddenTarget"
    assert error("did:web:nowhere.test") == "internalError"
