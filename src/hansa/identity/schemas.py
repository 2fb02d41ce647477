"""Request and response bodies of the identity API (W3C VC-API where it has one)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SecuringMechanism = Literal["vc-jose", "eddsa-rdfc-2022"]


class IssueOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    securingMechanism: SecuringMechanism = "vc-jose"  # noqa: N815 (VC-API's name)
    """``vc-jose`` (a ``vc+jwt``, as Gaia-X uses) or ``eddsa-rdfc-2022`` (Data Integrity)."""
    credentialStatus: bool = True  # noqa: N815
    """Add revocation and suspension entries of this node's status lists."""


class IssueCredentialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any]
    options: IssueOptions = Field(default_factory=IssueOptions)


class VerifyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trustedIssuer: bool = False  # noqa: N815
    """Also require that the issuer is one of this node's trusted issuers."""
    x509: bool = False
    """Also require the issuer's key to chain (x5u/x5c) to a trusted root CA."""
    challenge: str | None = None
    domain: str | None = None


class VerifyCredentialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verifiableCredential: dict[str, Any] | str  # noqa: N815
    options: VerifyOptions = Field(default_factory=VerifyOptions)


class VerifyPresentationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verifiablePresentation: dict[str, Any] | str  # noqa: N815
    options: VerifyOptions = Field(default_factory=VerifyOptions)


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["Ed25519", "P-256"] = "Ed25519"
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")


class CertificateChainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pem: str = Field(max_length=65536)


class UpdateStatusRequest(BaseModel):
    """VC-API ``POST /credentials/status``."""

    model_config = ConfigDict(extra="forbid")

    credentialId: str  # noqa: N815
    status: Literal["revoked", "suspended", "active"]


class RootCaRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pem: str = Field(max_length=65536)
    label: str | None = Field(default=None, max_length=256)


class TrustedIssuerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    did: str = Field(pattern=r"^did:[a-z0-9]+:.+$", max_length=512)
    label: str | None = Field(default=None, max_length=256)
