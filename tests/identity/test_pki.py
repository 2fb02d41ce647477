"""The federation PKI: a real TLS handshake against the CA, key certificates, PEM files."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from hansa.errors import BadRequest, ConfigurationError
from hansa.identity.keys import generate_private_key
from hansa.identity.pki import (
    certificate_dids,
    certificates_to_pem,
    create_root_ca,
    fingerprint_sha256,
    issue_intermediate_ca,
    issue_key_certificate,
    issue_tls_certificate,
    load_certificates_pem,
    read_certificates,
    read_private_key,
    write_certificates,
    write_private_key,
)

Root = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@pytest.fixture(scope="module")
def root() -> Root:
    return create_root_ca("Hansa Test Federation Root")


class TlsServer:
    """A one-connection-at-a-time TLS echo server on 127.0.0.1, stopped by the test."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(tls.recv(64))
            except (ssl.SSLError, OSError) as exc:
                self.errors.append(exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def tls_server(tmp_path: Path, root: Root) -> Iterator[TlsServer]:
    ca_key, ca_cert = root
    key, cert = issue_tls_certificate(ca_key, ca_cert, ["localhost", "127.0.0.1"])
    write_private_key(tmp_path / "tls.key", key)
    write_certificates(tmp_path / "tls.pem", [cert])
    server = TlsServer(tmp_path / "tls.pem", tmp_path / "tls.key")
    yield server
    server.stop()


def _client_context(ca_cert: x509.Certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=certificates_to_pem([ca_cert]).decode())
    return context


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1"])
def test_tls_handshake_verifies_against_the_root(
    tls_server: TlsServer, root: Root, server_name: str
) -> None:
    context = _client_context(root[1])
    with (
        socket.create_connection(("127.0.0.1", tls_server.port)) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall(b"hansa")
        assert tls.recv(64) == b"hansa"
        assert tls.getpeercert() is not None


def test_tls_handshake_fails_for_a_name_not_in_the_certificate(
    tls_server: TlsServer, root: Root
) -> None:
    context = _client_context(root[1])
    with (
        socket.create_connection(("127.0.0.1", tls_server.port)) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="mismatch"),
    ):
        context.wrap_socket(raw, server_hostname="example.org")


def test_tls_handshake_fails_against_another_root(tls_server: TlsServer) -> None:
    _, other_root = create_root_ca("Someone Else")
    context = _client_context(other_root)
    with (
        socket.create_connection(("127.0.0.1", tls_server.port)) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="localhost")


def test_tls_certificate_carries_server_auth_and_san(
    root: Root,
) -> None:
    ca_key, ca_cert = root
    _, cert = issue_tls_certificate(ca_key, ca_cert, ["node-a.localhost", "::1"])
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node-a.localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["::1"]
    assert cert.not_valid_after_utc <= ca_cert.not_valid_after_utc


def test_tls_certificate_refuses_bad_host_names(root: Root) -> None:
    ca_key, ca_cert = root
    with pytest.raises(BadRequest) as err:
        issue_tls_certificate(ca_key, ca_cert, [])
    assert err.value.code == "pki.no_hostnames"
    with pytest.raises(BadRequest) as err:
        issue_tls_certificate(ca_key, ca_cert, ["bad host/name"])
    assert err.value.code == "pki.invalid_hostname"


def test_key_certificate_binds_the_did_and_key(root: Root) -> None:
    ca_key, ca_cert = root
    did_key = generate_private_key("Ed25519")
    did = "did:web:participant.example:" + "x" * 80  # too long for a commonName
    cert = issue_key_certificate(ca_key, ca_cert, did, did_key.public_key())
    assert certificate_dids(cert) == [did]
    assert cert.public_key() == did_key.public_key()
    cert.verify_directly_issued_by(ca_cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not constraints.ca
    with pytest.raises(BadRequest) as err:
        issue_key_certificate(ca_key, ca_cert, "https://x", did_key.public_key())
    assert err.value.code == "pki.invalid_did"


def test_intermediate_ca_may_not_sign_further_cas(root: Root) -> None:
    ca_key, ca_cert = root
    _, intermediate = issue_intermediate_ca(ca_key, ca_cert, "Issuing CA")
    constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0
    assert intermediate.issuer == ca_cert.subject


def test_private_key_file_is_owner_only_and_round_trips(tmp_path: Path) -> None:
    key = generate_private_key("P-256")
    path = tmp_path / "keys" / "node.key"
    path.parent.mkdir()
    path.write_bytes(b"old")
    path.chmod(0o644)  # an existing, too-open file is tightened
    write_private_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_private_key(path).public_key() == key.public_key()
    ed_key = generate_private_key("Ed25519")
    write_private_key(tmp_path / "ed.key", ed_key)
    assert stat.S_IMODE((tmp_path / "ed.key").stat().st_mode) == 0o600
    assert read_private_key(tmp_path / "ed.key").public_key() == ed_key.public_key()


def test_reading_bad_files_says_which(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_bytes(b"not pem")
    with pytest.raises(ConfigurationError) as err:
        read_private_key(tmp_path / "junk.pem")
    assert err.value.code == "pki.invalid_key_file"
    with pytest.raises(BadRequest) as bad:
        read_certificates(tmp_path / "junk.pem")
    assert bad.value.code == "pki.invalid_certificate"
    with pytest.raises(ConfigurationError) as missing:
        read_certificates(tmp_path / "missing.pem")
    assert missing.value.code == "pki.invalid_certificate_file"


def test_certificate_chain_file_round_trips(tmp_path: Path, root: Root) -> None:
    ca_key, ca_cert = root
    _, leaf = issue_tls_certificate(ca_key, ca_cert, ["localhost"])
    write_certificates(tmp_path / "chain.pem", [leaf, ca_cert])
    chain = read_certificates(tmp_path / "chain.pem")
    assert [fingerprint_sha256(c) for c in chain] == [
        fingerprint_sha256(leaf),
        fingerprint_sha256(ca_cert),
    ]
    assert load_certificates_pem(certificates_to_pem(chain)) == chain


def test_certificates_start_slightly_in_the_past() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    _, cert = create_root_ca("Clock Skew Root", now=now)
    assert cert.not_valid_before_utc == now - timedelta(minutes=5)
