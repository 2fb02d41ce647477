"""Key pairs (Ed25519, P-256): generation, signing, JWK and Multikey forms, encryption at rest."""

from __future__ import annotations

import base64
import os
from typing import Any, Literal

import base58
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hansa.errors import BadRequest, ConfigurationError

KeyType = Literal["Ed25519", "P-256"]
KEY_TYPES: tuple[KeyType, ...] = ("Ed25519", "P-256")
PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey

# Multicodec prefixes (unsigned varints) of the public key types, as Multikey uses them.
_ED25519_PUB = b"\xed\x01"
_P256_PUB = b"\x80\x24"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"not valid base64url: {exc}", code="key.invalid_encoding") from exc


def generate_private_key(key_type: KeyType = "Ed25519") -> PrivateKey:
    if key_type == "Ed25519":
        return Ed25519PrivateKey.generate()
    if key_type == "P-256":
        return ec.generate_private_key(ec.SECP256R1())
    raise BadRequest(
        f"unknown key type {key_type!r}; use one of {', '.join(KEY_TYPES)}",
        code="key.unsupported_type",
    )


def key_type_of(key: PrivateKey | PublicKey) -> KeyType:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key.curve, ec.SECP256R1):
        return "P-256"
    raise BadRequest(f"unsupported curve {key.curve.name}", code="key.unsupported_type")


def jose_algorithm(key: PrivateKey | PublicKey) -> str:
    """The JOSE ``alg`` for a key: ``EdDSA`` (what deployed Gaia-X and EDC verify) or ``ES256``."""
    return "EdDSA" if key_type_of(key) == "Ed25519" else "ES256"


def sign(private_key: PrivateKey, data: bytes) -> bytes:
    """Sign: raw 64-byte Ed25519, or ECDSA P-256 with SHA-256 as JOSE's raw ``r || s``."""
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key.sign(data)
    der = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(public_key: PublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` (raw, as :func:`sign` makes it) is valid for ``data``."""
    try:
        if isinstance(public_key, Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def public_jwk(key: PrivateKey | PublicKey) -> dict[str, str]:
    """The public JWK of a key (never any private member)."""
    public = (
        key.public_key() if isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey) else key
    )
    if isinstance(public, Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    numbers = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def public_key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """Load a public key from a JWK; refuses anything but OKP/Ed25519 and EC/P-256."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    try:
        if kty == "OKP" and crv == "Ed25519":
            return Ed25519PublicKey.from_public_bytes(b64url_decode(str(jwk["x"])))
        if kty == "EC" and crv == "P-256":
            x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
            y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, ValueError) as exc:
        raise BadRequest(f"malformed JWK: {exc}", code="key.invalid_jwk") from exc
    raise BadRequest(
        f"unsupported JWK kty={kty!r} crv={crv!r}; use OKP/Ed25519 or EC/P-256",
        code="key.unsupported_type",
    )


def multikey_encode(key: PrivateKey | PublicKey) -> str:
    """The ``publicKeyMultibase`` of a key: base58btc of multicodec prefix + raw public key."""
    public = (
        key.public_key() if isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey) else key
    )
    if isinstance(public, Ed25519PublicKey):
        raw = _ED25519_PUB + public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        raw = _P256_PUB + public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
    return "z" + base58.b58encode(raw).decode("ascii")


def multikey_decode(value: str) -> PublicKey:
    """Load a public key from a base58btc Multikey (``z6Mk...`` Ed25519, ``zDn...`` P-256)."""
    if not value.startswith("z"):
        raise BadRequest(
            "publicKeyMultibase must be base58btc (start with 'z')", code="key.invalid_multikey"
        )
    try:
        raw = base58.b58decode(value[1:])
        if raw.startswith(_ED25519_PUB) and len(raw) == 34:
            return Ed25519PublicKey.from_public_bytes(raw[2:])
        if raw.startswith(_P256_PUB) and len(raw) == 35:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw[2:])
    except ValueError as exc:
        raise BadRequest(f"malformed Multikey: {exc}", code="key.invalid_multikey") from exc
    raise BadRequest(
        "Multikey is neither Ed25519 nor P-256 (unknown multicodec prefix or length)",
        code="key.invalid_multikey",
    )


def private_key_to_pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_from_pkcs8(der: bytes) -> PrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError("stored key is of an unsupported type", code="wallet.corrupt")
    return key


class KeyCipher:
    """Encrypts private keys at rest: AES-256-GCM under a key derived from the wallet secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ConfigurationError(
                "the wallet secret must be at least 16 characters (HANSA_WALLET_SECRET)",
                code="wallet.weak_secret",
            )
        self._aead = AESGCM(
            HKDF(
                algorithm=hashes.SHA256(), length=32, salt=b"hansa-wallet", info=b"key-at-rest/v1"
            ).derive(secret.encode())
        )

    def encrypt(self, key: PrivateKey, key_id: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, private_key_to_pkcs8(key), key_id.encode())

    def decrypt(self, blob: bytes, key_id: str) -> PrivateKey:
        try:
            der = self._aead.decrypt(blob[:12], blob[12:], key_id.encode())
        except InvalidTag as exc:
            raise ConfigurationError(
                f"cannot decrypt key {key_id!r}: wrong wallet secret or tampered storage",
                code="wallet.decrypt_failed",
            ) from exc
        return private_key_from_pkcs8(der)
