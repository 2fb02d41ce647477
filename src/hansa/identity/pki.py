"""The federation's PKI: a root CA, TLS server certificates, and certificates that bind a DID's key.

A federation runs one root CA (ECDSA P-256: every TLS stack, curl and browsers
included, accepts it). The CA issues

- TLS server certificates for its nodes (``localhost``, ``127.0.0.1``, real host
  names), usable by uvicorn, and
- *key certificates* that bind a participant DID's signing key to the CA, for
  Gaia-X's requirement that a credential's key chains to a trust anchor
  (``x5u`` / ``x5c``).

Private keys are written with mode 0600; nothing else here touches the disk.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hansa.errors import BadRequest, ConfigurationError
from hansa.files import write_private_file
from hansa.identity.keys import PrivateKey, PublicKey

CaKey = ec.EllipticCurvePrivateKey | Ed25519PrivateKey

# Certificates start a little in the past so that a peer whose clock lags still accepts them.
BACKDATE = timedelta(minutes=5)
ROOT_VALIDITY = timedelta(days=3650)
INTERMEDIATE_VALIDITY = timedelta(days=1825)
# 397 days is the CA/Browser Forum ceiling for TLS server certificates.
TLS_VALIDITY = timedelta(days=397)
KEY_CERT_VALIDITY = timedelta(days=365)
_CN_MAX = 64  # X.520 upper bound for commonName


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, ca_key: CaKey) -> x509.Certificate:
    # Ed25519 signs without a separate hash; ECDSA uses SHA-256.
    algorithm = None if isinstance(ca_key, Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(ca_key, algorithm)


def _common_name(text: str) -> x509.Name:
    if not text or len(text) > _CN_MAX:
        raise BadRequest(
            f"a certificate name must have 1 to {_CN_MAX} characters, got {len(text)}",
            code="pki.invalid_name",
        )
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    signer_public_key: PublicKey,
    start: datetime,
    lifetime: timedelta,
    path_length: int | None,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public_key), critical=False
        )
    )


def create_root_ca(
    name: str, *, now: datetime | None = None, lifetime: timedelta = ROOT_VALIDITY
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new self-signed root CA on a fresh P-256 key (may sign one level of intermediates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _common_name(name)
    builder = _ca_builder(
        subject, subject, key.public_key(), key.public_key(), _now(now), lifetime, path_length=1
    )
    return key, _sign(builder, key)


def issue_intermediate_ca(
    ca_key: CaKey,
    ca_cert: x509.Certificate,
    name: str,
    *,
    now: datetime | None = None,
    lifetime: timedelta = INTERMEDIATE_VALIDITY,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 intermediate CA under ``ca_cert`` that may sign end-entity certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _ca_builder(
        _common_name(name),
        ca_cert.subject,
        key.public_key(),
        ca_key.public_key(),
        _now(now),
        lifetime,
        path_length=0,
    )
    return key, _sign(builder, ca_key)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host or host.startswith(".") or any(c.isspace() for c in host) or "/" in host:
        raise BadRequest(f"not a host name or IP address: {host!r}", code="pki.invalid_hostname")
    return x509.DNSName(host.lower())


def _end_entity_builder(
    ca_key: CaKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    public_key: PublicKey,
    start: datetime,
    lifetime: timedelta,
) -> x509.CertificateBuilder:
    not_after = min(start + lifetime, ca_cert.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )


def issue_tls_certificate(
    ca_key: CaKey,
    ca_cert: x509.Certificate,
    hostnames: Sequence[str],
    *,
    now: datetime | None = None,
    lifetime: timedelta = TLS_VALIDITY,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 TLS server certificate for ``hostnames`` (DNS names and IP addresses, in the SAN)."""
    if not hostnames:
        raise BadRequest("a TLS certificate needs at least one host name", code="pki.no_hostnames")
    names = [_general_name(host) for host in hostnames]
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _end_entity_builder(
            ca_key,
            ca_cert,
            _common_name(hostnames[0][:_CN_MAX]),
            key.public_key(),
            _now(now),
            lifetime,
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return key, _sign(builder, ca_key)


def issue_key_certificate(
    ca_key: CaKey,
    ca_cert: x509.Certificate,
    subject_did: str,
    public_key: PublicKey,
    *,
    now: datetime | None = None,
    lifetime: timedelta = KEY_CERT_VALIDITY,
) -> x509.Certificate:
    """A certificate binding a DID's signing key to the CA: the DID is the SAN URI.

    The certificate carries no extended key usage, so that any verifier's policy
    (client, document signing) accepts it; the key may only sign (digitalSignature).
    """
    if not subject_did.startswith("did:"):
        raise BadRequest(f"not a DID: {subject_did!r}", code="pki.invalid_did")
    # Long DIDs do not fit a commonName; the SAN URI is the binding that counts.
    common_name = subject_did if len(subject_did) <= _CN_MAX else "DID signing key"
    builder = _end_entity_builder(
        ca_key, ca_cert, _common_name(common_name), public_key, _now(now), lifetime
    ).add_extension(
        x509.SubjectAlternativeName([x509.UniformResourceIdentifier(subject_did)]), critical=False
    )
    return _sign(builder, ca_key)


def certificate_dids(certificate: x509.Certificate) -> list[str]:
    """The DIDs named in a certificate's subjectAltName (URI entries starting ``did:``)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [
        uri
        for uri in san.value.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith("did:")
    ]


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the DER certificate."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def certificate_to_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificates_to_pem(chain: Sequence[x509.Certificate]) -> bytes:
    """A PEM bundle, leaf first, as ``x5u`` documents and TLS chain files expect."""
    return b"".join(certificate_to_pem(cert) for cert in chain)


def load_certificates_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle; no certificate or a malformed one is an error."""
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise BadRequest(
            f"not a PEM certificate bundle: {exc}", code="pki.invalid_certificate"
        ) from exc
    return certificates


def private_key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write a PKCS#8 PEM private key readable by its owner only (mode 0600)."""
    write_private_file(path, private_key_to_pem(key))


def read_private_key(path: Path) -> PrivateKey:
    """Read a PEM private key (Ed25519 or P-256) written by :func:`write_private_key`."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"cannot read private key {path}: {exc}", code="pki.invalid_key_file"
        ) from exc
    if isinstance(key, Ed25519PrivateKey) or (
        isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    ):
        return key
    raise ConfigurationError(
        f"{path} holds an unsupported key type; use Ed25519 or P-256",
        code="pki.invalid_key_file",
    )


def write_certificates(path: Path, chain: Sequence[x509.Certificate]) -> None:
    """Write one certificate or a chain (leaf first) as PEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(certificates_to_pem(chain))


def read_certificates(path: Path) -> list[x509.Certificate]:
    """Read a PEM file of one or more certificates."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read certificate file {path}: {exc}", code="pki.invalid_certificate_file"
        ) from exc
    return load_certificates_pem(data)
