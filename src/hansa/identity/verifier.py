"""One verifier for both securing forms: signature, key relationship, validity, status, trust.

vc+jwt / enveloped  ─┐
                     ├─> signature & key (issuer's DID document) ─> validity period
Data Integrity JSON ─┘      ─> status lists (fail closed) ─> trusted issuer? ─> X.509 chain?
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hansa.errors import BadRequest, Forbidden, HansaError
from hansa.identity import data_integrity, vc_jose
from hansa.identity.credential_cache import VerifiedCredentials
from hansa.identity.did import DidResolver, find_verification_method, split_did_url
from hansa.identity.keys import public_key_from_jwk
from hansa.identity.pki import certificate_dids
from hansa.identity.trust import TrustAnchorService, chain_from_x5c, parse_pem_chain
from hansa.identity.validity import check_validity_period

VC_JWT_MEDIA_TYPES = (
    "application/vc+jwt",
    "application/vc+ld+json+jwt",
    "application/vc+ld+jwt",
)
VP_JWT_MEDIA_TYPES = ("application/vp+jwt", "application/vp+ld+json+jwt", "application/vp+ld+jwt")


@dataclass
class CredentialCheck:
    """A credential that passed every requested check."""

    credential: dict[str, Any]
    issuer: str
    verification_method: str
    securing: str
    checks: list[str] = field(default_factory=list)
    token: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": True,
            "checks": self.checks,
            "warnings": [],
            "errors": [],
            "issuer": self.issuer,
            "verificationMethod": self.verification_method,
            "securingMechanism": self.securing,
            "credential": self.credential,
        }


@dataclass
class PresentationCheck:
    presentation: dict[str, Any]
    holder: str
    credentials: list[CredentialCheck]
    checks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": True,
            "checks": self.checks,
            "warnings": [],
            "errors": [],
            "holder": self.holder,
            "credentials": [c.to_json() for c in self.credentials],
        }


def _from_data_url(value: str, media_types: tuple[str, ...]) -> str | None:
    for media_type in media_types:
        prefix = f"data:{media_type},"
        if value.startswith(prefix):
            return value[len(prefix) :]
    return None


def unwrap_jwt(value: Any, media_types: tuple[str, ...]) -> str | None:
    """A compact JWT from a bare token, a data: URL, or an Enveloped* object; else None."""
    if isinstance(value, str):
        token = _from_data_url(value, media_types)
        if token is not None:
            return token
        return value if value.count(".") == 2 else None
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        types = value.get("type")
        types = [types] if isinstance(types, str) else types or []
        if any(t.startswith("Enveloped") for t in types if isinstance(t, str)):
            token = _from_data_url(value["id"], media_types)
            if token is None:
                raise BadRequest(
                    f"enveloped object's id must be a data: URL of one of {', '.join(media_types)}",
                    code="vc.unsupported_envelope",
                    pointer="/id",
                )
            return token
    return None


class CredentialVerifier:
    """Verifies credentials and presentations the way every Hansa role needs them verified."""

    def __init__(
        self,
        resolver: DidResolver,
        check_status: Callable[[dict[str, Any], str], None],
        trust: TrustAnchorService,
        fetch_bytes: Callable[[str], bytes],
    ) -> None:
        self._resolver = resolver
        self._check_status = check_status
        self._trust = trust
        self._fetch = fetch_bytes
        # A vc+jwt presented again (every DCP query presents the holder's same credentials)
        # is not verified again while the issuer's DID document is unchanged; its validity
        # period and status are still checked at every use.
        self._credentials = VerifiedCredentials(resolver)

    def verify_credential(
        self,
        vc: dict[str, Any] | str,
        *,
        trusted_issuer: bool = False,
        x509: bool = False,
        now: datetime | None = None,
    ) -> CredentialCheck:
        now = now or datetime.now(UTC)
        token = unwrap_jwt(vc, VC_JWT_MEDIA_TYPES)
        if token is not None:
            verified = self._credentials.verify(token, now)
            result = CredentialCheck(
                credential=verified.credential,
                issuer=verified.issuer,
                verification_method=verified.kid,
                securing="vc-jose",
                checks=["proof", "validity"],
                token=token,
            )
        elif isinstance(vc, dict):
            proof = data_integrity.verify_proof(
                vc, self._resolver, expected_purpose="assertionMethod"
            )
            issuer = _issuer_id(vc)
            if split_did_url(proof.verification_method)[0] != issuer:
                raise Forbidden(
                    f"the proof was made with {proof.verification_method}, "
                    f"which is not a key of the issuer {issuer}",
                    code="vc.issuer_mismatch",
                    pointer="/proof/verificationMethod",
                )
            check_validity_period(vc, now)
            result = CredentialCheck(
                credential={k: v for k, v in vc.items() if k != "proof"},
                issuer=issuer,
                verification_method=proof.verification_method,
                securing="eddsa-rdfc-2022",
                checks=["proof", "validity"],
            )
        else:
            raise BadRequest(
                "a credential is a JSON-LD object with a proof, or a vc+jwt",
                code="vc.invalid_credential",
            )
        self._post_checks(result, trusted_issuer=trusted_issuer, x509=x509, now=now)
        return result

    def _post_checks(
        self, result: CredentialCheck, *, trusted_issuer: bool, x509: bool, now: datetime
    ) -> None:
        if "credentialStatus" in result.credential:
            self._check_status(result.credential, result.issuer)
            result.checks.append("status")
        if trusted_issuer:
            if not self._trust.is_trusted_issuer(result.issuer):
                raise Forbidden(
                    f"{result.issuer} is not a trusted issuer of this node",
                    code="trust.untrusted_issuer",
                    pointer="/issuer",
                )
            result.checks.append("trustedIssuer")
        if x509:
            self.verify_key_chain(result.verification_method, result.issuer, now)
            result.checks.append("x509")

    def verify_key_chain(self, method_id: str, did: str, now: datetime) -> None:
        """Require the key ``method_id`` to chain (x5c, or x5u fetched) to a trusted root CA."""
        document = self._resolver.resolve(did)
        method = find_verification_method(document, method_id, "assertionMethod")
        jwk = method.get("publicKeyJwk")
        if not isinstance(jwk, dict):
            raise Forbidden(
                f"key {method_id} has no publicKeyJwk, so no x5u/x5c chain",
                code="trust.no_certificate_chain",
            )
        if isinstance(jwk.get("x5c"), list):
            chain = chain_from_x5c(jwk["x5c"])
        elif isinstance(jwk.get("x5u"), str):
            chain = parse_pem_chain(self._fetch(jwk["x5u"]))
        else:
            raise Forbidden(
                f"key {method_id} names no certificate chain (x5u or x5c); "
                "this check requires keys bound to a trusted root CA",
                code="trust.no_certificate_chain",
            )
        public_key = public_key_from_jwk({k: v for k, v in jwk.items() if k not in {"x5u", "x5c"}})
        self._trust.verify_key_chain(chain, public_key, now)
        named = certificate_dids(chain[0])
        if named and did not in named:
            raise Forbidden(
                f"the certificate of {method_id} was issued to {', '.join(named)}, not {did}",
                code="trust.chain_subject_mismatch",
            )

    def verify_presentation(
        self,
        vp: dict[str, Any] | str,
        *,
        challenge: str | None = None,
        domain: str | None = None,
        trusted_issuer: bool = False,
        x509: bool = False,
        now: datetime | None = None,
    ) -> PresentationCheck:
        now = now or datetime.now(UTC)
        token = unwrap_jwt(vp, VP_JWT_MEDIA_TYPES)
        if token is not None:
            verified = vc_jose.verify_vp_jwt(
                token,
                self._resolver,
                audience=domain,
                nonce=challenge,
                now=now,
                verify_credential=self._credentials.verify,
            )
            credentials = []
            for index, inner in enumerate(verified.credentials):
                check = CredentialCheck(
                    credential=inner.credential,
                    issuer=inner.issuer,
                    verification_method=inner.kid,
                    securing="vc-jose",
                    checks=["proof", "validity"],
                    token=inner.token,
                )
                with _at(f"/verifiableCredential/{index}"):
                    self._post_checks(check, trusted_issuer=trusted_issuer, x509=x509, now=now)
                credentials.append(check)
            return PresentationCheck(
                presentation=verified.presentation,
                holder=verified.holder,
                credentials=credentials,
                checks=["proof"],
            )
        if not isinstance(vp, dict):
            raise BadRequest(
                "a presentation is a JSON-LD object with a proof, or a vp+jwt",
                code="vp.invalid_presentation",
            )
        proof = data_integrity.verify_proof(
            vp,
            self._resolver,
            expected_purpose="authentication",
            challenge=challenge,
            domain=domain,
        )
        holder = vp.get("holder")
        holder_id = holder.get("id") if isinstance(holder, dict) else holder
        if holder_id is not None and split_did_url(proof.verification_method)[0] != holder_id:
            raise Forbidden(
                f"the presentation was signed by {proof.verification_method}, "
                f"not by its holder {holder_id}",
                code="vp.holder_mismatch",
                pointer="/proof/verificationMethod",
            )
        inner_credentials = vp.get("verifiableCredential", [])
        if isinstance(inner_credentials, dict | str):
            inner_credentials = [inner_credentials]
        credentials = []
        for index, inner in enumerate(inner_credentials):
            with _at(f"/verifiableCredential/{index}"):
                credentials.append(
                    self.verify_credential(inner, trusted_issuer=trusted_issuer, x509=x509, now=now)
                )
        return PresentationCheck(
            presentation={k: v for k, v in vp.items() if k != "proof"},
            holder=str(holder_id or split_did_url(proof.verification_method)[0]),
            credentials=credentials,
            checks=["proof"],
        )


def _issuer_id(credential: dict[str, Any]) -> str:
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not isinstance(issuer, str):
        raise BadRequest(
            "the credential names no issuer", code="vc.invalid_credential", pointer="/issuer"
        )
    return issuer


class _at:  # noqa: N801 (used as a lower-case context manager)
    """Prefix the JSON pointer of an error raised inside with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, HansaError):
            pointer = exc.pointer or ""
            if not pointer.startswith(self.prefix):
                exc.pointer = self.prefix + pointer
