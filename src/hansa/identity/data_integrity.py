"""W3C Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (vc-di-eddsa 1.0).

Signing: the proof options (with the document's ``@context``) and the document without
its proof are each canonicalized with RDFC-1.0 and hashed with SHA-256; the Ed25519
signature covers ``proofConfigHash || documentHash`` and is stored as a base58btc
multibase ``proofValue`` (``z...``).

Verification checks, in this order: a proof is there; it is exactly a
``DataIntegrityProof`` with ``eddsa-rdfc-2022``; it is well formed; purpose, challenge
and domain are the expected ones; it has not expired; the key is in the controller's DID
document under the proof purpose; the signature. JSON-LD is processed strictly
(:mod:`hansa.identity.jsonld`): an undefined term is an error, never silently unsigned.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hansa.errors import BadRequest
from hansa.identity.did import RELATIONSHIPS, DidResolver, Relationship, resolve_verification_key
from hansa.identity.jsonld import ContextLoader, canonicalize
from hansa.identity.keys import PrivateKey

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v2"
CREDENTIALS_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"

# XML Schema dateTimeStamp as Data Integrity writes it (a time zone is required).
_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class VerifiedProof:
    """What a valid proof says: who signed (key and its controller), when, and for what."""

    verification_method: str
    controller: str
    created: str | None
    purpose: str


def _timestamp(value: datetime | str | None) -> str:
    if value is None:
        value = datetime.now(UTC).replace(microsecond=0)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise BadRequest("proof times need a time zone", code="vc.proof_invalid")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not _DATETIME.match(value):
        raise BadRequest(
            f"{value!r} is not an XML Schema dateTime with a time zone",
            code="vc.proof_invalid",
        )
    return value


def _parse_timestamp(value: str, field: str) -> datetime:
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise BadRequest(
            f"proof {field} {value!r} is not an XML Schema dateTime with a time zone",
            code="vc.proof_invalid",
            pointer=f"/proof/{field}",
        )
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _contexts(document: dict[str, Any]) -> list[Any]:
    context = document.get("@context")
    if context is None:
        raise BadRequest(
            "the document has no @context; Data Integrity signs JSON-LD",
            code="jsonld.invalid_context",
            pointer="/@context",
        )
    return list(context) if isinstance(context, list) else [context]


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def hash_data(
    unsecured_document: dict[str, Any],
    proof_options: dict[str, Any],
    *,
    loader: ContextLoader | None = None,
) -> bytes:
    """The 64 bytes Ed25519 signs: SHA-256 of the canonical proof configuration, then of the
    canonical document (vc-di-eddsa "Proof Configuration", "Transformation", "Hashing").

    ``proof_options`` is the proof without ``proofValue``; it is given the document's
    ``@context`` for canonicalization, as the cryptosuite requires.
    """
    config = {key: value for key, value in proof_options.items() if key != "proofValue"}
    config["@context"] = unsecured_document.get("@context")
    return _sha256(canonicalize(config, loader=loader)) + _sha256(
        canonicalize(unsecured_document, loader=loader)
    )


def add_proof(
    document: dict[str, Any],
    private_key: PrivateKey,
    verification_method: str,
    *,
    proof_purpose: Relationship = "assertionMethod",
    created: datetime | str | None = None,
    challenge: str | None = None,
    domain: str | None = None,
    expires: datetime | str | None = None,
    loader: ContextLoader | None = None,
) -> dict[str, Any]:
    """A copy of ``document`` with an ``eddsa-rdfc-2022`` DataIntegrityProof by ``private_key``.

    ``verification_method`` is the DID URL of the key (``did:web:x#key-1``). When the
    document's ``@context`` defines neither the VC 2.0 nor the Data Integrity terms, the
    Data Integrity context is appended so that the proof's terms are defined.
    """
    if not isinstance(private_key, Ed25519PrivateKey):
        raise BadRequest(
            "eddsa-rdfc-2022 signs with Ed25519 keys only", code="key.unsupported_type"
        )
    if not isinstance(document, dict):
        raise BadRequest("only a JSON object can be signed", code="jsonld.invalid_document")
    if "proof" in document:
        raise BadRequest(
            "the document already has a proof; proof sets and chains are not supported",
            code="vc.proof_present",
            pointer="/proof",
        )
    if proof_purpose not in RELATIONSHIPS:
        raise BadRequest(f"unknown proof purpose {proof_purpose!r}", code="vc.proof_invalid")
    unsecured = copy.deepcopy(document)
    contexts = _contexts(unsecured)
    if CREDENTIALS_V2_CONTEXT not in contexts and DATA_INTEGRITY_CONTEXT not in contexts:
        unsecured["@context"] = [*contexts, DATA_INTEGRITY_CONTEXT]
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": _timestamp(created),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if expires is not None:
        proof["expires"] = _timestamp(expires)
    if challenge is not None:
        proof["challenge"] = challenge
    if domain is not None:
        proof["domain"] = domain
    signature = private_key.sign(hash_data(unsecured, proof, loader=loader))
    proof["proofValue"] = "z" + base58.b58encode(signature).decode("ascii")
    return {**unsecured, "proof": proof}


def _single_proof(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise BadRequest("a secured document is a JSON object", code="jsonld.invalid_document")
    proof = document.get("proof")
    if proof is None or proof == []:
        raise BadRequest("the document has no proof", code="vc.proof_missing", pointer="/proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            raise BadRequest(
                "proof sets (more than one proof) are not supported",
                code="vc.proof_unsupported",
                pointer="/proof",
            )
        proof = proof[0]
    if not isinstance(proof, dict):
        raise BadRequest("proof must be a JSON object", code="vc.proof_invalid", pointer="/proof")
    return proof


def _required_string(proof: dict[str, Any], field: str) -> str:
    value = proof.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(
            f"proof.{field} must be a non-empty string",
            code="vc.proof_invalid",
            pointer=f"/proof/{field}",
        )
    return value


def b58decode(text: str) -> bytes:
    """Base58btc to bytes, exactly as ``base58.b58decode`` (leading '1's are zero bytes).

    The library turns the number into bytes one ``divmod`` at a time; ``int.to_bytes``
    does it at once, which is a tenth of a Data Integrity verification.
    """
    encoded = text.rstrip().encode("ascii")
    digits = encoded.lstrip(b"1")
    number = base58.b58decode_int(digits)
    return b"\0" * (len(encoded) - len(digits)) + number.to_bytes(
        (number.bit_length() + 7) // 8, "big"
    )


def _decode_proof_value(value: str) -> bytes:
    if not value.startswith("z"):
        raise BadRequest(
            "proofValue must be multibase base58btc (start with 'z')",
            code="vc.proof_invalid",
            pointer="/proof/proofValue",
        )
    try:
        signature = b58decode(value[1:])
    except ValueError as exc:
        raise BadRequest(
            f"proofValue is not base58btc: {exc}",
            code="vc.proof_invalid",
            pointer="/proof/proofValue",
        ) from exc
    if len(signature) != 64:
        raise BadRequest(
            f"proofValue holds {len(signature)} bytes; an Ed25519 signature has 64",
            code="vc.proof_invalid",
            pointer="/proof/proofValue",
        )
    return signature


def _check_binding(proof: dict[str, Any], challenge: str | None, domain: str | None) -> None:
    if challenge is not None and proof.get("challenge") != challenge:
        raise BadRequest(
            "proof.challenge is not the challenge this verifier issued",
            code="vc.challenge_mismatch",
            pointer="/proof/challenge",
        )
    if domain is not None:
        stated = proof.get("domain")
        domains = stated if isinstance(stated, list) else [stated]
        if domain not in domains:
            raise BadRequest(
                f"proof.domain is not {domain!r}",
                code="vc.domain_mismatch",
                pointer="/proof/domain",
            )


def _unsecured(document: dict[str, Any], proof: dict[str, Any]) -> dict[str, Any]:
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    if "@context" in proof:
        # The proof's own contexts must be the document's, as a prefix in the same order.
        proof_contexts = proof["@context"]
        proof_contexts = proof_contexts if isinstance(proof_contexts, list) else [proof_contexts]
        if _contexts(document)[: len(proof_contexts)] != proof_contexts:
            raise BadRequest(
                "proof.@context does not start the document's @context",
                code="vc.proof_invalid",
                pointer="/proof/@context",
            )
        unsecured["@context"] = proof["@context"]
    return unsecured


def verify_proof(
    document: dict[str, Any],
    resolver: DidResolver,
    *,
    expected_purpose: Relationship = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    now: datetime | None = None,
    loader: ContextLoader | None = None,
) -> VerifiedProof:
    """Verify the ``eddsa-rdfc-2022`` proof of ``document``; raise a ``vc.*`` error if it fails.

    The key comes from the DID document of the proof's ``verificationMethod`` (through
    ``resolver``) and must be listed under ``expected_purpose``. ``challenge`` and
    ``domain``, when given, must be exactly what the proof states (presentations).
    """
    proof = _single_proof(document)
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise BadRequest(
            f"unsupported proof: type {proof.get('type')!r} with cryptosuite "
            f"{proof.get('cryptosuite')!r}; only {PROOF_TYPE} with {CRYPTOSUITE} is verified here",
            code="vc.proof_unsupported",
            pointer="/proof/type",
        )
    method_id = _required_string(proof, "verificationMethod")
    purpose = _required_string(proof, "proofPurpose")
    signature = _decode_proof_value(_required_string(proof, "proofValue"))
    if purpose != expected_purpose:
        raise BadRequest(
            f"proof purpose is {purpose!r}, expected {expected_purpose!r}",
            code="vc.purpose_mismatch",
            pointer="/proof/proofPurpose",
        )
    _check_binding(proof, challenge, domain)
    created = proof.get("created")
    if created is not None:
        _parse_timestamp(created, "created")
    if proof.get("expires") is not None:
        expires = _parse_timestamp(proof["expires"], "expires")
        if expires <= (now or datetime.now(UTC)):
            raise BadRequest(
                f"the proof expired at {proof['expires']}",
                code="vc.proof_expired",
                pointer="/proof/expires",
            )
    public_key, method = resolve_verification_key(resolver, method_id, expected_purpose)
    if not isinstance(public_key, Ed25519PublicKey):
        raise BadRequest(
            f"key {method_id} is not an Ed25519 key; eddsa-rdfc-2022 needs one",
            code="vc.proof_unsupported",
            pointer="/proof/verificationMethod",
        )
    unsecured = _unsecured(document, proof)
    options = {key: value for key, value in proof.items() if key not in ("proofValue", "@context")}
    data = hash_data(unsecured, options, loader=loader)
    try:
        public_key.verify(signature, data)
    except InvalidSignature as exc:
        raise BadRequest(
            f"the signature of the proof by {method_id} does not match the document",
            code="vc.signature_invalid",
            pointer="/proof/proofValue",
        ) from exc
    controller = method.get("controller")
    if not isinstance(controller, str):
        controller = method_id.split("#")[0]
    return VerifiedProof(
        verification_method=method_id,
        controller=controller,
        created=created if isinstance(created, str) else None,
        purpose=purpose,
    )
