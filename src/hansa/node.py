"""A node's long-lived parts, built once from settings and passed to every service."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hansa.catalogue.federation import CatalogueFederation, sync_forever
from hansa.catalogue.service import CatalogueService, open_catalogue, recheck_forever
from hansa.compliance.notary import Notary
from hansa.compliance.registration_sources import NotarySources
from hansa.compliance.registry import Registry
from hansa.compliance.service import ComplianceService, IssuedLabel
from hansa.compliance.shapes import ShapeValidator
from hansa.connector.agreements import AgreementEnforcer
from hansa.connector.assets import AssetService
from hansa.connector.catalog import CatalogService, DspEndpoint
from hansa.connector.credential_service import (
    CredentialService,
    CredentialServiceClient,
    SecureTokenService,
    credential_service_entry,
    wallet_signer,
)
from hansa.connector.credential_store import CredentialStore
from hansa.connector.data_address import DataAddressRules
from hansa.connector.dcp import DcpAuthenticator
from hansa.connector.negotiations import TOPIC as NEGOTIATION_TOPIC
from hansa.connector.negotiations import NegotiationService
from hansa.connector.outbox import OutboxWorker
from hansa.connector.replay import ReplayGuard
from hansa.connector.transfer_data import EnforcedDataEndpoint, LazyTokenAuthority
from hansa.connector.transfers import TOPIC as TRANSFER_TOPIC
from hansa.connector.transfers import TransferService
from hansa.dataplane.backends import BackendRegistry, config_from_settings
from hansa.dataplane.usage import SqlUsageLog
from hansa.db import make_engine, make_session_factory, migrate
from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.identity.did import DidDocument, did_web_from_url, split_did_url
from hansa.identity.did_web import DidWebResolver, UniversalResolver
from hansa.identity.keys import KeyCipher
from hansa.identity.service import IdentityService, NodeIdentity
from hansa.identity.status_service import StatusChecker, StatusListService
from hansa.identity.trust import TrustAnchorService
from hansa.identity.vc_jose import verify_vc_jwt
from hansa.identity.verifier import CredentialVerifier
from hansa.identity.wallet import Wallet, load_or_create_wallet_secret
from hansa.settings import Settings

logger = logging.getLogger(__name__)


class NodeResolver:
    """Resolves the node's own DID from its wallet (never over HTTPS), others as usual."""

    def __init__(self, did: str, universal: UniversalResolver) -> None:
        self.did = did
        self._universal = universal
        self.identity: IdentityService | None = None

    def resolve(self, did: str) -> DidDocument:
        if self.identity is not None and split_did_url(did)[0] == self.did:
            return self.identity.did_document()
        return self._universal.resolve(did)


@dataclass
class Node:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    http: GuardedClient
    identity: IdentityService
    notary: Notary | None = None
    """The clearing house's notary (role ``clearing-house``)."""
    compliance: ComplianceService | None = None
    """The clearing house's registry and compliance checks (role ``clearing-house``)."""
    catalogue: CatalogueService | None = None
    """The federated catalogue (role ``catalogue``)."""
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _recheck: threading.Thread | None = field(default=None, repr=False)
    credential_service: CredentialService | None = None
    """This node's DCP credential service (role ``connector``)."""
    sts: SecureTokenService | None = None
    replay: ReplayGuard | None = None
    claims_client: CredentialServiceClient | None = None
    """Asks a counterparty's credential service for the claims a policy needs."""
    assets: AssetService | None = None
    """The provider side: assets, policies, offers (role ``connector``)."""
    catalog: CatalogService | None = None
    dsp_auth: DcpAuthenticator | None = None
    """Authenticates DSP protocol requests (DCP self-issued ID tokens)."""
    negotiations: NegotiationService | None = None
    outbox: OutboxWorker | None = None
    """Delivers protocol messages (negotiation, transfer) in the background; see start_workers."""
    agreements: AgreementEnforcer | None = None
    """The provider's agreements: revocation and the per-request check of the data plane."""
    transfers: TransferService | None = None
    data_endpoint: EnforcedDataEndpoint | None = None
    """The provider's ``GET /data/{transfer_id}``, enforcing the agreement on every chunk."""

    @classmethod
    def open(cls, settings: Settings, *, run_migrations: bool = True) -> Node:
        engine = make_engine(settings.sqlalchemy_url())
        if run_migrations:
            migrate(engine)
        sessions = make_session_factory(engine)
        http = GuardedClient(settings.http)
        did = settings.did or did_web_from_url(settings.base_url)
        resolver = NodeResolver(
            did,
            UniversalResolver(DidWebResolver(http, settings.trust.did_cache_ttl_seconds)),
        )
        secret = (
            settings.wallet_secret.get_secret_value()
            if settings.wallet_secret
            else load_or_create_wallet_secret(settings.data_dir)
        )
        trust = TrustAnchorService(
            sessions, settings.trust.trusted_root_ca_files, settings.trust.trusted_issuers
        )

        own_status = settings.base_url.rstrip("/") + "/status/"

        def fetch(url: str) -> bytes:
            # The node's own status lists are read from its database, not over HTTPS.
            if url.startswith(own_status) and resolver.identity is not None:
                return resolver.identity.status_list_credential(url[len(own_status) :]).encode()
            return http.get_bytes(url).content

        def verify_list(token: str) -> tuple[dict[str, Any], str]:
            verified = verify_vc_jwt(token, resolver)
            return verified.credential, verified.issuer

        status = StatusChecker(fetch, verify_list, settings.trust.status_list_cache_ttl_seconds)
        identity = IdentityService(
            identity=NodeIdentity(did=did, base_url=settings.base_url),
            wallet=Wallet(sessions, KeyCipher(secret)),
            status_lists=StatusListService(sessions, settings.base_url, issuer=did),
            trust=trust,
            verifier=CredentialVerifier(resolver, status.check, trust, fetch),
            resolver=resolver,
            services=(
                [credential_service_entry(did, settings.base_url)]
                if "connector" in settings.roles
                else []
            ),
        )
        resolver.identity = identity
        node = cls(
            settings=settings, engine=engine, sessions=sessions, http=http, identity=identity
        )
        if "catalogue" in settings.roles:
            node.catalogue = open_catalogue(
                engine,
                sessions,
                identity.verifier,
                node_did=did,
                is_compliance_issuer=trust.is_trusted_issuer,
                cursor_secret=hashlib.sha256(b"catalogue-cursor:" + secret.encode()).digest(),
            )
            node.catalogue.federation = CatalogueFederation(node.catalogue, http)
        if "clearing-house" in settings.roles:
            node.notary = Notary(http, NotarySources(**settings.notary.model_dump()))
            node.compliance = ComplianceService(
                verifier=identity.verifier,
                shapes=ShapeValidator.builtin(),
                registry=Registry(sessions, trust),
                issue=identity.issue_credential,
                compile_shapes=ShapeValidator,
                on_issued=node._publish_label if node.catalogue is not None else None,
            )
        if "connector" in settings.roles:
            signer = wallet_signer(did, identity.wallet)
            node.replay = ReplayGuard(sessions)
            node.sts = SecureTokenService(did, signer)
            node.credential_service = CredentialService(
                did=did,
                store=CredentialStore(sessions),
                signer=signer,
                resolver=resolver,
                replay=node.replay,
            )
            node.claims_client = CredentialServiceClient(
                did=did, http=http, resolver=resolver, sts=node.sts, verifier=identity.verifier
            )
            node.dsp_auth = DcpAuthenticator(resolver, audience=did, replay=node.replay)
            node.assets = AssetService(
                sessions,
                DataAddressRules(
                    file_root=settings.data_dir / "files",
                    allow_http_on_loopback=settings.http.allow_http_on_loopback,
                ),
            )
            node.catalog = CatalogService(
                node.assets, DspEndpoint(participant_id=did, base_url=settings.base_url)
            )
            node.outbox = OutboxWorker(sessions)
            node.negotiations = NegotiationService(
                sessions=sessions,
                did=did,
                base_url=settings.base_url,
                http=http,
                sts=node.sts,
                claims_client=node.claims_client,
                assets=node.assets,
                outbox=node.outbox,
                allow_loopback_callbacks=settings.http.allow_loopback,
                allow_private_callbacks=settings.http.allow_private,
            )
            node.outbox.register(NEGOTIATION_TOPIC, node.negotiations)
            node.agreements = AgreementEnforcer(sessions)
            usage = SqlUsageLog(sessions)
            tokens = LazyTokenAuthority(
                identity.wallet, did, settings.base_url.rstrip("/") + "/data", timedelta(minutes=10)
            )
            backends = BackendRegistry(config_from_settings(settings, http_client=http))
            node.transfers = TransferService(
                sessions=sessions,
                did=did,
                base_url=settings.base_url,
                http=http,
                sts=node.sts,
                agreements=node.agreements,
                tokens=tokens,
                backends=backends,
                usage=usage,
                assets=node.assets,
                outbox=node.outbox,
                allow_loopback_callbacks=settings.http.allow_loopback,
                allow_private_callbacks=settings.http.allow_private,
                lease_seconds=settings.connector.transfer_lease_seconds,
            )
            node.outbox.register(TRANSFER_TOPIC, node.transfers)
            node.data_endpoint = EnforcedDataEndpoint(
                running=node.transfers.running,
                tokens=tokens,
                backends=backends,
                resolve_transfer=node.transfers.resolve,
                check_agreement=node.agreements.check,
                usage=usage,
                source=f"{did}/dataplane",
            )
        return node

    def _publish_label(self, label: IssuedLabel) -> None:
        """What passes the clearing house reaches its catalogue without a second upload."""
        assert self.catalogue is not None
        try:
            self.catalogue.ingest_verified(label.result.credentials, label.token)
        except HansaError as exc:
            # The label stands on its own; a catalogue refusal (say, a participant with
            # nothing to list) must not undo it.
            logger.info("label %s not published in the catalogue: %s", exc.code, exc.detail)

    def start_workers(self) -> None:
        """Start background work: the outbox (messages a past run left pending go out now),
        the transfer sweep (data a dead process was moving moves again) and the catalogue's
        status recheck."""
        if self.outbox is not None:
            self.outbox.start()
        if self.transfers is not None:
            self.transfers.sweep.start()
        if self.catalogue is not None and self._recheck is None:
            self._recheck = threading.Thread(
                target=recheck_forever,
                args=(self.catalogue, self._stop),
                name="hansa-catalogue-recheck",
                daemon=True,
            )
            self._recheck.start()
            if self.catalogue.federation is not None:
                threading.Thread(
                    target=sync_forever,
                    args=(self.catalogue.federation, self._stop),
                    name="hansa-catalogue-sync",
                    daemon=True,
                ).start()

    def stop_workers(self) -> None:
        """Stop what :meth:`start_workers` started that sends or moves data (the outbox
        records what it delivered; a transfer left STARTED moves again after its lease)."""
        if self.outbox is not None:
            self.outbox.stop()
        if self.transfers is not None:
            self.transfers.sweep.stop()

    def close(self) -> None:
        self._stop.set()
        if self.catalogue is not None:
            self.catalogue.close()
        self.stop_workers()
        self.http.close()
        self.engine.dispose()
