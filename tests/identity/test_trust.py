"""Trust anchors (settings and database) and key chains that must end at a trusted root."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from hansa.errors import BadRequest, ConfigurationError, Conflict, Forbidden, HansaError, NotFound
from hansa.identity.keys import generate_private_key
from hansa.identity.pki import (
    certificate_to_pem,
    certificates_to_pem,
    create_root_ca,
    fingerprint_sha256,
    issue_intermediate_ca,
    issue_key_certificate,
    issue_tls_certificate,
)
from hansa.identity.trust import (
    TrustAnchorService,
    chain_from_x5c,
    parse_pem_chain,
    verify_key_chain,
)

DID = "did:web:participant.example"
Root = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@pytest.fixture(scope="module")
def root() -> Root:
    return create_root_ca("Hansa Federation Root")


def _code(exc: pytest.ExceptionInfo[HansaError]) -> str:
    return exc.value.code


def _x5c(chain: list[x509.Certificate]) -> list[str]:
    return [
        base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode() for cert in chain
    ]


# --- verify_key_chain (pure) --------------------------------------------------------------


def test_key_certificate_chains_to_the_root(root: Root) -> None:
    ca_key, ca_cert = root
    did_key = generate_private_key("Ed25519")
    leaf = issue_key_certificate(ca_key, ca_cert, DID, did_key.public_key())
    path = verify_key_chain([leaf], did_key.public_key(), [ca_cert])
    assert [fingerprint_sha256(c) for c in path] == [
        fingerprint_sha256(leaf),
        fingerprint_sha256(ca_cert),
    ]
    # The root may also be part of the chain, as x5c chains often include it.
    verify_key_chain([leaf, ca_cert], did_key.public_key(), [ca_cert])


def test_chain_through_an_intermediate(root: Root) -> None:
    ca_key, ca_cert = root
    int_key, int_cert = issue_intermediate_ca(ca_key, ca_cert, "Issuing CA")
    did_key = generate_private_key("P-256")
    leaf = issue_key_certificate(int_key, int_cert, DID, did_key.public_key())
    path = verify_key_chain(chain_from_x5c(_x5c([leaf, int_cert])), did_key.public_key(), [ca_cert])
    assert len(path) == 3
    # Without the intermediate the chain has no path to the root.
    with pytest.raises(Forbidden) as err:
        verify_key_chain([leaf], did_key.public_key(), [ca_cert])
    assert _code(err) == "trust.untrusted_root"


def test_a_tls_certificate_can_serve_as_the_key_certificate(root: Root) -> None:
    # Gaia-X x5u chains in the wild are often TLS server certificates (serverAuth only).
    ca_key, ca_cert = root
    tls_key, tls_cert = issue_tls_certificate(ca_key, ca_cert, ["participant.example"])
    verify_key_chain([tls_cert], tls_key.public_key(), [ca_cert])


def test_chain_to_another_root_is_untrusted(root: Root) -> None:
    other_key, other_cert = create_root_ca("Some Other Federation")
    did_key = generate_private_key("Ed25519")
    leaf = issue_key_certificate(other_key, other_cert, DID, did_key.public_key())
    with pytest.raises(Forbidden) as err:
        verify_key_chain([leaf, other_cert], did_key.public_key(), [root[1]])
    assert _code(err) == "trust.untrusted_root"
    with pytest.raises(Forbidden) as err:
        verify_key_chain([leaf], did_key.public_key(), [])
    assert _code(err) == "trust.untrusted_root"


def test_expired_and_future_certificates(root: Root) -> None:
    ca_key, ca_cert = root
    did_key = generate_private_key("Ed25519")
    old = issue_key_certificate(
        ca_key,
        ca_cert,
        DID,
        did_key.public_key(),
        now=datetime.now(UTC) - timedelta(days=30),
        lifetime=timedelta(days=1),
    )
    with pytest.raises(Forbidden) as err:
        verify_key_chain([old], did_key.public_key(), [ca_cert])
    assert _code(err) == "trust.certificate_expired"
    fresh = issue_key_certificate(ca_key, ca_cert, DID, did_key.public_key())
    with pytest.raises(Forbidden) as err:
        verify_key_chain(
            [fresh], did_key.public_key(), [ca_cert], now=datetime.now(UTC) - timedelta(days=1)
        )
    assert _code(err) == "trust.certificate_not_yet_valid"


def test_leaf_for_another_key_is_a_mismatch(root: Root) -> None:
    ca_key, ca_cert = root
    certified = generate_private_key("Ed25519")
    leaf = issue_key_certificate(ca_key, ca_cert, DID, certified.public_key())
    signer = generate_private_key("Ed25519")
    with pytest.raises(Forbidden) as err:
        verify_key_chain([leaf], signer.public_key(), [ca_cert])
    assert _code(err) == "trust.chain_key_mismatch"


def test_forged_leaf_with_the_roots_name_is_invalid(root: Root) -> None:
    ca_key, ca_cert = root
    did_key = generate_private_key("Ed25519")
    # An attacker's CA with the very same name as the federation root.
    forger_key = ec.generate_private_key(ec.SECP256R1())
    forged = issue_key_certificate(forger_key, ca_cert, DID, did_key.public_key())
    assert forged.issuer == ca_cert.subject
    with pytest.raises(Forbidden) as err:
        verify_key_chain([forged], did_key.public_key(), [ca_cert])
    assert _code(err) == "trust.untrusted_root"
    # Behind a genuine intermediate, the bad signature is found by path validation.
    _, int_cert = issue_intermediate_ca(ca_key, ca_cert, "Issuing CA")
    forged_below = issue_key_certificate(forger_key, int_cert, DID, did_key.public_key())
    with pytest.raises(Forbidden) as err:
        verify_key_chain([forged_below, int_cert], did_key.public_key(), [ca_cert])
    assert _code(err) == "trust.chain_invalid"


def test_a_ca_certificate_is_not_a_key_certificate(root: Root) -> None:
    ca_key, ca_cert = root
    int_key, int_cert = issue_intermediate_ca(ca_key, ca_cert, "Issuing CA")
    with pytest.raises(Forbidden) as err:
        verify_key_chain([int_cert], int_key.public_key(), [ca_cert])
    assert _code(err) == "trust.chain_invalid"


def test_an_end_entity_cannot_sign_certificates(root: Root) -> None:
    ca_key, ca_cert = root
    tls_key, tls_cert = issue_tls_certificate(ca_key, ca_cert, ["evil.example"])
    did_key = generate_private_key("Ed25519")
    # A leaf "issued" by a mere end-entity key (no cA, no keyCertSign).
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, DID)]))
        .issuer_name(tls_cert.subject)
        .public_key(did_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .sign(tls_key, hashes.SHA256())
    )
    with pytest.raises(Forbidden) as err:
        verify_key_chain([leaf, tls_cert], did_key.public_key(), [ca_cert])
    assert _code(err) == "trust.chain_invalid"


def test_empty_chain_is_invalid(root: Root) -> None:
    with pytest.raises(Forbidden) as err:
        verify_key_chain([], generate_private_key().public_key(), [root[1]])
    assert _code(err) == "trust.chain_invalid"


# --- parsing chains -----------------------------------------------------------------------


def test_parse_pem_chain_and_x5c_agree(root: Root) -> None:
    ca_key, ca_cert = root
    leaf = issue_key_certificate(ca_key, ca_cert, DID, generate_private_key().public_key())
    from_pem = parse_pem_chain(certificates_to_pem([leaf, ca_cert]))
    from_x5c = chain_from_x5c(_x5c([leaf, ca_cert]))
    assert from_pem == from_x5c == [leaf, ca_cert]


@pytest.mark.parametrize(
    ("x5c", "code", "pointer"),
    [
        ([], "trust.invalid_certificate", "/x5c"),
        ("MIIB", "trust.invalid_certificate", "/x5c"),
        ([42], "trust.invalid_certificate", "/x5c/0"),
        (["not base64!"], "trust.invalid_certificate", "/x5c/0"),
        (["AAAA"], "trust.invalid_certificate", "/x5c/0"),
        (["AAAA"] * 9, "trust.chain_too_long", "/x5c"),
    ],
)
def test_bad_x5c(x5c: object, code: str, pointer: str) -> None:
    with pytest.raises(BadRequest) as err:
        chain_from_x5c(x5c)
    assert (err.value.code, err.value.pointer) == (code, pointer)


def test_bad_pem_chains(root: Root) -> None:
    with pytest.raises(BadRequest) as err:
        parse_pem_chain(b"<html>not found</html>")
    assert _code(err) == "trust.invalid_certificate"
    with pytest.raises(BadRequest) as err:
        parse_pem_chain(certificate_to_pem(root[1]) * 9)
    assert _code(err) == "trust.chain_too_long"


# --- TrustAnchorService -------------------------------------------------------------------


def test_roots_added_listed_removed(sessions: sessionmaker[Session], root: Root) -> None:
    service = TrustAnchorService(sessions)
    added = service.add_root(certificate_to_pem(root[1]), label="federation")
    assert added.fingerprint == fingerprint_sha256(root[1])
    again = service.add_root(certificate_to_pem(root[1]).decode())  # idempotent
    assert again.fingerprint == added.fingerprint
    roots = service.list_roots()
    assert [(r.fingerprint, r.label, r.configured) for r in roots] == [
        (added.fingerprint, "federation", False)
    ]
    assert roots[0].certificate == root[1]
    service.remove_root(added.fingerprint.upper())
    assert service.list_roots() == []
    with pytest.raises(NotFound) as err:
        service.remove_root(added.fingerprint)
    assert _code(err) == "trust.unknown_anchor"


def test_added_root_is_used_for_chains(sessions: sessionmaker[Session], root: Root) -> None:
    ca_key, ca_cert = root
    service = TrustAnchorService(sessions)
    did_key = generate_private_key("Ed25519")
    leaf = issue_key_certificate(ca_key, ca_cert, DID, did_key.public_key())
    with pytest.raises(Forbidden) as err:
        service.verify_key_chain([leaf], did_key.public_key())
    assert _code(err) == "trust.untrusted_root"
    service.add_root(certificate_to_pem(ca_cert))
    service.verify_key_chain([leaf], did_key.public_key())


def test_bad_roots_are_refused(sessions: sessionmaker[Session], root: Root) -> None:
    service = TrustAnchorService(sessions)
    with pytest.raises(BadRequest) as err:
        service.add_root(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert _code(err) == "trust.invalid_certificate"
    with pytest.raises(BadRequest) as err:
        service.add_root("hello")
    assert _code(err) == "trust.invalid_certificate"
    _, leaf = issue_tls_certificate(root[0], root[1], ["localhost"])
    with pytest.raises(BadRequest) as err:
        service.add_root(certificate_to_pem(leaf))
    assert _code(err) == "trust.not_a_ca"
    with pytest.raises(BadRequest) as err:
        service.add_root(certificates_to_pem([root[1], root[1]]))
    assert _code(err) == "trust.invalid_certificate"


def test_configured_roots_and_issuers(
    sessions: sessionmaker[Session], root: Root, tmp_path: Path
) -> None:
    path = tmp_path / "federation-root.pem"
    path.write_bytes(certificate_to_pem(root[1]))
    service = TrustAnchorService(sessions, [path], ["did:web:trust-anchor.example"])
    [configured] = service.list_roots()
    assert (configured.fingerprint, configured.configured) == (fingerprint_sha256(root[1]), True)
    with pytest.raises(Conflict) as err:
        service.remove_root(configured.fingerprint)
    assert _code(err) == "trust.configured_anchor"
    assert service.is_trusted_issuer("did:web:trust-anchor.example")
    assert service.is_trusted_issuer("did:web:trust-anchor.example#key-1")
    with pytest.raises(Conflict) as err:
        service.remove_issuer("did:web:trust-anchor.example")
    assert _code(err) == "trust.configured_anchor"


def test_unreadable_settings_root_is_a_configuration_error(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError) as err:
        TrustAnchorService(sessions, [tmp_path / "missing.pem"])
    assert _code(err) == "trust.invalid_settings"


def test_issuers_added_listed_removed(sessions: sessionmaker[Session]) -> None:
    service = TrustAnchorService(sessions, settings_issuers=["did:web:anchor.example"])
    assert not service.is_trusted_issuer(DID)
    service.add_issuer(DID, label="participant")
    service.add_issuer(DID)  # idempotent
    assert service.is_trusted_issuer(DID)
    assert [(i.did, i.label, i.configured) for i in service.list_issuers()] == [
        ("did:web:anchor.example", None, True),
        (DID, "participant", False),
    ]
    service.remove_issuer(DID)
    assert not service.is_trusted_issuer(DID)
    with pytest.raises(NotFound) as err:
        service.remove_issuer(DID)
    assert _code(err) == "trust.unknown_anchor"


@pytest.mark.parametrize(
    ("did", "code"),
    [
        ("https://example.com", "did.invalid"),
        ("did:web:example.com#key-1", "did.invalid"),
        ("did:web:" + "a" * 130, "trust.did_too_long"),
    ],
)
def test_bad_issuer_dids(sessions: sessionmaker[Session], did: str, code: str) -> None:
    with pytest.raises(BadRequest) as err:
        TrustAnchorService(sessions).add_issuer(did)
    assert _code(err) == code
