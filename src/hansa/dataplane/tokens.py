"""Short-lived data access tokens: what a consumer presents at the provider's data endpoint.

A token is a compact JWS (``typ: hansa-data+jwt``) signed by the provider node's own key
and verified by the same node, binding one transfer of one asset under one agreement to
one consumer::

    header  {"alg": "EdDSA", "typ": "hansa-data+jwt", "kid": "did:web:provider#key-1"}
    payload {"iss": "did:web:provider", "sub": "<consumer DID>", "aud": "<data endpoint>",
             "iat": ..., "nbf": ..., "exp": ..., "jti": "<uuid>",
             "agreement_id": "...", "transfer_id": "...", "asset_id": "..."}

Verification is as strict as for every other JWS in Hansa (:mod:`hansa.identity.jose`):
an algorithm allow-list, the key never from the token (only the node's own ``kid`` is
accepted), ``typ``, ``iss``, ``aud``, ``exp`` / ``nbf`` / ``iat`` checked. A data token is
used for many requests (ranges, resumed downloads), so ``jti`` is not single-use; the
short lifetime and the per-request agreement check bound what a leaked token can do.
Failures are 401 ``dataplane.token_expired`` or ``dataplane.token_invalid`` (the jose
code is kept as ``reason``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hansa.dataplane.errors import TOKEN_EXPIRED, TOKEN_INVALID
from hansa.errors import HansaError, Unauthorized
from hansa.identity.jose import check_registered_claims, sign_compact, verify_compact
from hansa.identity.keys import PrivateKey, PublicKey

DATA_TOKEN_TYP = "hansa-data+jwt"  # noqa: S105 (a media type)
ALLOWED_ALGS = frozenset({"EdDSA", "Ed25519", "ES256"})
DEFAULT_LIFETIME = timedelta(minutes=10)
LEEWAY_SECONDS = 30
_GRANT_CLAIMS = ("agreement_id", "transfer_id", "asset_id")

CheckAgreement = Callable[[str, str, str], None]
"""``check_agreement(agreement_id, consumer_did, asset_id)``: returns if the agreement is
in force and its access counts allow one more access; raises
:class:`~hansa.dataplane.errors.AgreementNotInForce` (403 ``dataplane.agreement_revoked`` /
``dataplane.agreement_expired`` / ``dataplane.access_limit_reached``) otherwise."""


@dataclass(frozen=True)
class DataGrant:
    """What a data token allows: one transfer of one asset under one agreement, to one party."""

    agreement_id: str
    transfer_id: str
    consumer_did: str
    asset_id: str


@dataclass(frozen=True)
class DataToken:
    """A data token, issued or verified: the compact JWS and what it grants until when."""

    token: str
    grant: DataGrant
    token_id: str
    expires_at: datetime


class DataTokenAuthority:
    """Issues, verifies and renews the data tokens of one provider node."""

    def __init__(
        self,
        private_key: PrivateKey,
        *,
        kid: str,
        issuer: str,
        audience: str,
        lifetime: timedelta = DEFAULT_LIFETIME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``kid`` is the DID URL of ``private_key``; ``audience`` the data endpoint's URL."""
        self._private_key = private_key
        self._public_key: PublicKey = private_key.public_key()
        self.kid = kid
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self._clock = clock

    def issue(self, grant: DataGrant) -> DataToken:
        """A fresh token for ``grant``, valid for ``lifetime``."""
        now = int(self._clock().timestamp())
        expires = now + int(self.lifetime.total_seconds())
        token_id = str(uuid.uuid4())
        payload = {
            "iss": self.issuer,
            "sub": grant.consumer_did,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": token_id,
            "agreement_id": grant.agreement_id,
            "transfer_id": grant.transfer_id,
            "asset_id": grant.asset_id,
        }
        token = sign_compact(payload, self._private_key, kid=self.kid, typ=DATA_TOKEN_TYP)
        return DataToken(token, grant, token_id, datetime.fromtimestamp(expires, UTC))

    def verify(self, token: str) -> DataToken:
        """The token's grant, if this node issued it for this endpoint and it is in time."""
        try:
            _, payload = verify_compact(
                token,
                self._resolve_key,
                allowed_algs=ALLOWED_ALGS,
                allowed_typs=[DATA_TOKEN_TYP],
            )
            check_registered_claims(
                payload,
                now=self._clock(),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                required=("sub", "exp", "iat", "jti", *_GRANT_CLAIMS),
            )
        except HansaError as exc:
            if exc.code in {TOKEN_INVALID, TOKEN_EXPIRED}:
                raise
            if exc.code == "jose.expired":
                raise Unauthorized(
                    "the data token has expired; renew it or ask the provider for a new one",
                    code=TOKEN_EXPIRED,
                    reason=exc.code,
                ) from exc
            raise Unauthorized(
                f"the data token is not valid here: {exc.detail}",
                code=TOKEN_INVALID,
                reason=exc.code,
            ) from exc
        grant = DataGrant(
            agreement_id=_text_claim(payload, "agreement_id"),
            transfer_id=_text_claim(payload, "transfer_id"),
            consumer_did=_text_claim(payload, "sub"),
            asset_id=_text_claim(payload, "asset_id"),
        )
        expires = datetime.fromtimestamp(float(payload["exp"]), UTC)
        return DataToken(token, grant, _text_claim(payload, "jti"), expires)

    def renew(self, token: str, check_agreement: CheckAgreement | None = None) -> DataToken:
        """A new token for the same grant, if ``token`` is still valid and the agreement holds."""
        current = self.verify(token)
        grant = current.grant
        if check_agreement is not None:
            check_agreement(grant.agreement_id, grant.consumer_did, grant.asset_id)
        return self.issue(grant)

    def _resolve_key(self, kid: str) -> PublicKey:
        # Only this node's own key: a data token is issued and checked by the same node.
        if kid != self.kid:
            raise Unauthorized(
                f"the data token is signed with {kid!r}, not this provider's key",
                code=TOKEN_INVALID,
                pointer="kid",
            )
        return self._public_key


def _text_claim(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise Unauthorized(
            f"the data token's claim {name!r} must be a non-empty string",
            code=TOKEN_INVALID,
            pointer=f"/{name}",
        )
    return value
