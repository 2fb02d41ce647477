"""The wallet keeps keys encrypted at rest, rotates them, and never hands out private keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hansa.errors import BadRequest, ConfigurationError, Conflict, NotFound
from hansa.identity.keys import KeyCipher, private_key_to_pkcs8, sign, verify
from hansa.identity.models import WalletKey
from hansa.identity.wallet import Wallet, load_or_create_wallet_secret

SECRET = "correct horse battery staple"


@pytest.fixture
def wallet(sessions: sessionmaker[Session]) -> Wallet:
    return Wallet(sessions, KeyCipher(SECRET))


@pytest.mark.parametrize("key_type", ["Ed25519", "P-256"])
def test_created_key_signs_and_its_public_half_verifies(wallet: Wallet, key_type: str) -> None:
    info = wallet.create_key(key_type)
    assert info.status == "active"
    assert "d" not in info.public_jwk
    signature = sign(wallet.private_key(info.id), b"hello")
    assert verify(info.public_key, signature, b"hello")
    prefix = "z6Mk" if key_type == "Ed25519" else "zDn"
    assert info.public_key_multibase.startswith(prefix)


def test_private_key_is_stored_encrypted(wallet: Wallet, sessions: sessionmaker[Session]) -> None:
    info = wallet.create_key("Ed25519", "signing")
    plain = private_key_to_pkcs8(wallet.private_key(info.id))
    with sessions() as session:
        stored = session.scalars(select(WalletKey)).one().private_key_encrypted
    assert plain not in stored
    assert plain[-32:] not in stored


def test_wrong_secret_cannot_decrypt(sessions: sessionmaker[Session]) -> None:
    Wallet(sessions, KeyCipher(SECRET)).create_key("Ed25519", "k")
    other = Wallet(sessions, KeyCipher("another secret of some length"))
    with pytest.raises(ConfigurationError) as err:
        other.private_key("k")
    assert err.value.code == "wallet.decrypt_failed"


def test_weak_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError) as err:
        KeyCipher("short")
    assert err.value.code == "wallet.weak_secret"


def test_rotation_retires_the_old_key_but_keeps_it_listed(wallet: Wallet) -> None:
    old = wallet.create_key("Ed25519")
    new = wallet.rotate(old.id)
    keys = {k.id: k for k in wallet.list_keys()}
    assert keys[old.id].status == "retired"
    assert keys[old.id].retired_at is not None
    assert keys[new.id].status == "active"
    assert wallet.signing_key()[0].id == new.id
    with pytest.raises(Conflict) as err:
        wallet.private_key(old.id)
    assert err.value.code == "key.retired"
    with pytest.raises(Conflict):
        wallet.rotate(old.id)


def test_bad_requests(wallet: Wallet) -> None:
    with pytest.raises(BadRequest) as err:
        wallet.create_key("RSA")
    assert err.value.code == "key.unsupported_type"
    with pytest.raises(BadRequest) as err:
        wallet.create_key("Ed25519", "../etc")
    assert err.value.code == "key.invalid_id"
    wallet.create_key("Ed25519", "dup")
    with pytest.raises(Conflict) as err:
        wallet.create_key("Ed25519", "dup")
    assert err.value.code == "key.exists"
    assert len(wallet.list_keys()) == 1
    with pytest.raises(NotFound):
        wallet.get("missing")


def test_empty_wallet_has_no_signing_key(wallet: Wallet) -> None:
    with pytest.raises(NotFound) as err:
        wallet.signing_key()
    assert err.value.code == "key.none_active"


def test_wallet_secret_file_is_private_and_stable(tmp_path: Path) -> None:
    first = load_or_create_wallet_secret(tmp_path)
    assert load_or_create_wallet_secret(tmp_path) == first
    assert (tmp_path / "wallet.secret").stat().st_mode & 0o077 == 0
