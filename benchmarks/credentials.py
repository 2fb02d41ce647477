"""Credential throughput: VC-JOSE and Data Integrity against raw Ed25519, in one run.

    python benchmarks/credentials.py [--quick]

Prints issue/s and verify/s of ``vc+jwt`` (VC-JOSE) and ``eddsa-rdfc-2022`` (Data
Integrity, JSON-LD canonicalised) on the same credential, the raw ``cryptography``
Ed25519 sign/s and verify/s of that credential's bytes, and the ratios against raw.
The issuer's DID document is cached (resolution is not what is measured here).
Targets: VC-JOSE verify >= 50% of raw verify; Data Integrity verify >= 25%.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hansa.identity.data_integrity import add_proof, verify_proof
from hansa.identity.did import DidDocument, build_did_document
from hansa.identity.vc_jose import issue_vc_jwt, verify_vc_jwt

ISSUER = "did:web:clearing-house.example.eu"
KID = f"{ISSUER}#key-1"

CREDENTIAL: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "id": "urn:uuid:6a1f0d3e-8b7c-4f5e-9a2d-1c3b5e7f9a0b",
    "type": ["VerifiableCredential"],
    "issuer": ISSUER,
    "validFrom": "2026-01-01T00:00:00Z",
    "validUntil": "2036-01-01T00:00:00Z",
    "credentialSubject": {
        "id": "did:web:acme-mobility.example.de",
        "name": "Acme Mobility GmbH",
        "description": "Traffic sensor data provider in Hamburg",
    },
}


class CachedResolver:
    """The issuer's DID document, already resolved (as a verifier's cache holds it)."""

    def __init__(self, document: DidDocument) -> None:
        self.document = document

    def resolve(self, did: str) -> DidDocument:
        return self.document


def rate(action: Callable[[], object], seconds: float) -> float:
    """Operations per second of ``action`` over about ``seconds`` (after a warm-up)."""
    for _ in range(3):
        action()
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(10):
            action()
        count += 10
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finish within a minute")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 10.0

    key = Ed25519PrivateKey.generate()
    resolver = CachedResolver(build_did_document(ISSUER, [("key-1", key)]))
    payload = json.dumps(CREDENTIAL, separators=(",", ":")).encode()
    raw_signature = key.sign(payload)
    public = key.public_key()
    token = issue_vc_jwt(CREDENTIAL, key, KID)
    secured = add_proof(CREDENTIAL, key, KID)
    verify_vc_jwt(token, resolver)  # both must verify before they are timed
    verify_proof(secured, resolver)

    actions: dict[str, Callable[[], object]] = {
        "raw_ed25519_sign_per_s": lambda: key.sign(payload),
        "raw_ed25519_verify_per_s": lambda: public.verify(raw_signature, payload),
        "vc_jose_issue_per_s": lambda: issue_vc_jwt(CREDENTIAL, key, KID),
        "vc_jose_verify_per_s": lambda: verify_vc_jwt(token, resolver),
        "data_integrity_issue_per_s": lambda: add_proof(CREDENTIAL, key, KID),
        "data_integrity_verify_per_s": lambda: verify_proof(secured, resolver),
    }
    # Interleaved rounds, median per figure: a load change on a shared machine then
    # shifts every figure alike instead of skewing the ratios.
    rounds = 5
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            samples[name].append(rate(action, seconds / rounds))
    figures: dict[str, float | bool] = {
        name: statistics.median(values) for name, values in samples.items()
    }
    raw_verify = float(figures["raw_ed25519_verify_per_s"])
    jose_ratio = float(figures["vc_jose_verify_per_s"]) / raw_verify
    di_ratio = float(figures["data_integrity_verify_per_s"]) / raw_verify
    figures["vc_jose_verify_vs_raw"] = jose_ratio
    figures["data_integrity_verify_vs_raw"] = di_ratio
    figures["vc_jose_verify_target_met"] = jose_ratio >= 0.5
    figures["data_integrity_verify_target_met"] = di_ratio >= 0.25

    print(
        f"payload: {len(payload)} bytes credential, issuer DID cached, "
        f"{seconds:.0f} s per figure in {rounds} interleaved rounds (median)"
    )
    for name in ("sign", "verify"):
        value = float(figures[f"raw_ed25519_{name}_per_s"])
        print(f"  {'raw Ed25519 ' + name:<24}{value:>10,.0f} /s")
    for label, prefix in (("VC-JOSE", "vc_jose"), ("Data Integrity", "data_integrity")):
        for name in ("issue", "verify"):
            value = float(figures[f"{prefix}_{name}_per_s"])
            base = float(figures[f"raw_ed25519_{'sign' if name == 'issue' else 'verify'}_per_s"])
            print(f"  {label + ' ' + name:<24}{value:>10,.0f} /s   {value / base:6.1%} of raw")
    print(
        f"targets: VC-JOSE verify >= 50% of raw: {jose_ratio:.1%}; "
        f"Data Integrity verify >= 25% of raw: {di_ratio:.1%}"
    )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
