"""Typed settings for a Hansa node: environment prefix ``HANSA_``, nested with ``__``.

Example: ``HANSA_HTTP__ALLOW_LOOPBACK=true``, ``HANSA_DATABASE_URL=postgresql+psycopg://...``.
No other module reads the environment; a ``Settings`` object is passed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["identity", "clearing-house", "catalogue", "connector"]


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "hansa"


class HttpSettings(BaseModel):
    """Limits of the one guarded outbound HTTP client (SSRF is the main risk)."""

    allow_loopback: bool = False
    """Allow loopback targets (127.0.0.0/8, ::1, localhost): for local federations only."""
    allow_http_on_loopback: bool = False
    """Allow plain http:// to loopback targets (development)."""
    allow_private: bool = False
    """Allow private (RFC 1918 / ULA) targets: only inside a closed network."""
    timeout_seconds: float = 10.0
    max_response_bytes: int = 1_048_576
    max_redirects: int = 3
    ca_bundle: Path | None = None
    """Extra root CAs (PEM) to trust for HTTPS, e.g. the federation's root CA."""


class TrustSettings(BaseModel):
    trusted_root_ca_files: list[Path] = Field(default_factory=list)
    trusted_issuers: list[str] = Field(default_factory=list)
    did_cache_ttl_seconds: float = 300.0
    status_list_cache_ttl_seconds: float = 300.0


class NotarySettings(BaseModel):
    """The registries the clearing house's notary asks; unset: offline checks only."""

    vies_url: str | None = None
    """VIES REST base, e.g. hansa.compliance.VIES_PUBLIC_URL."""
    gleif_url: str | None = None
    """GLEIF API base, e.g. hansa.compliance.GLEIF_PUBLIC_URL."""
    eori_url: str | None = None
    """EU EORI validation (SOAP) endpoint, e.g. hansa.compliance.EORI_PUBLIC_URL."""


class ApiSettings(BaseModel):
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 64


class ConnectorSettings(BaseModel):
    """The connector's background work."""

    transfer_lease_seconds: float = Field(default=30.0, gt=0)
    """How long a process may go without renewing its claim on a running transfer's data
    movement before another process (or the same node after a restart) moves it again."""


class Settings(BaseSettings):
    """Everything a node needs to know, in one object."""

    model_config = SettingsConfigDict(
        env_prefix="HANSA_", env_nested_delimiter="__", extra="ignore"
    )

    name: str = "hansa"
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    """SQLAlchemy URL; SQLite in ``data_dir`` when unset."""
    base_url: str = "https://localhost:8443"
    """The public HTTPS base URL of this node; its did:web is derived from it."""
    did: str | None = None
    """The node's DID; derived from ``base_url`` (did:web) when unset."""
    roles: list[Role] = Field(default_factory=lambda: list[Role](["identity"]))
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    admin_api_key: SecretStr | None = None
    """Bearer token for management endpoints. Without it, management endpoints refuse all."""
    wallet_secret: SecretStr | None = None
    """Secret from which the key that encrypts private keys at rest is derived."""

    http: HttpSettings = Field(default_factory=HttpSettings)
    trust: TrustSettings = Field(default_factory=TrustSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    notary: NotarySettings = Field(default_factory=NotarySettings)
    connector: ConnectorSettings = Field(default_factory=ConnectorSettings)

    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'hansa.db'}"
