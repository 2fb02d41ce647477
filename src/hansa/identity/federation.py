"""A federation's root of trust on disk: its root CA, trust-anchor DID and node TLS certificates.

``hansa federation init DIR`` writes::

    DIR/federation.json            name, trust-anchor DID, nodes (name, URL, DID)
    DIR/ca/root-ca.pem             the root CA certificate (give it to every node)
    DIR/ca/root-ca.key             its private key (0600; keep it offline in production)
    DIR/nodes/<name>/tls.pem|key   each node's TLS server certificate and key
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from hansa.errors import BadRequest, ConfigurationError, NotFound
from hansa.identity.did import did_web_from_url
from hansa.identity.keys import PublicKey
from hansa.identity.pki import (
    CaKey,
    certificates_to_pem,
    create_root_ca,
    issue_key_certificate,
    issue_tls_certificate,
    read_certificates,
    read_private_key,
    write_certificates,
    write_private_key,
)


@dataclass(frozen=True)
class FederationNode:
    name: str
    base_url: str
    did: str
    tls_cert: Path
    tls_key: Path


@dataclass
class Federation:
    """A federation's root CA and the nodes it issued TLS certificates for."""

    name: str
    root: Path
    trust_anchor_did: str
    nodes: dict[str, FederationNode] = field(default_factory=dict)

    @property
    def ca_cert_file(self) -> Path:
        return self.root / "ca" / "root-ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.root / "ca" / "root-ca.key"

    def ca(self) -> tuple[CaKey, x509.Certificate]:
        key = read_private_key(self.ca_key_file)
        if not isinstance(key, CaKey):
            raise ConfigurationError("the root CA key has an unusable type", code="pki.invalid_ca")
        return key, read_certificates(self.ca_cert_file)[0]

    def node(self, name: str) -> FederationNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise NotFound(
                f"federation {self.name!r} has no node {name!r}; it has: {', '.join(self.nodes)}",
                code="federation.unknown_node",
            ) from None

    def certify_key(self, did: str, public_key: PublicKey) -> str:
        """A PEM chain (key certificate, root) binding ``did``'s key to this federation's CA."""
        ca_key, ca_cert = self.ca()
        certificate = issue_key_certificate(ca_key, ca_cert, did, public_key)
        return certificates_to_pem([certificate, ca_cert]).decode()

    def save(self) -> None:
        manifest = {
            "name": self.name,
            "trustAnchorDid": self.trust_anchor_did,
            "nodes": {n.name: {"baseUrl": n.base_url, "did": n.did} for n in self.nodes.values()},
        }
        (self.root / "federation.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _node_entry(root: Path, name: str, base_url: str) -> FederationNode:
    directory = root / "nodes" / name
    return FederationNode(
        name=name,
        base_url=base_url,
        did=did_web_from_url(base_url),
        tls_cert=directory / "tls.pem",
        tls_key=directory / "tls.key",
    )


def init_federation(
    root: Path,
    name: str,
    nodes: dict[str, str],
    *,
    trust_anchor: str,
    hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
) -> Federation:
    """Create a root CA and TLS certificates for ``nodes`` (name -> HTTPS base URL).

    ``trust_anchor`` names the node whose did:web is the federation's trust-anchor DID
    (the clearing house). Refuses to overwrite an existing federation.
    """
    if (root / "federation.json").exists():
        raise BadRequest(
            f"{root} holds a federation already; choose another directory or remove it",
            code="federation.exists",
        )
    if trust_anchor not in nodes:
        raise BadRequest(
            f"the trust anchor {trust_anchor!r} is not one of the nodes", code="federation.invalid"
        )
    ca_key, ca_cert = create_root_ca(f"{name} root CA")
    (root / "ca").mkdir(parents=True, exist_ok=True)
    write_private_key(root / "ca" / "root-ca.key", ca_key)
    write_certificates(root / "ca" / "root-ca.pem", [ca_cert])
    federation = Federation(
        name=name, root=root, trust_anchor_did=did_web_from_url(nodes[trust_anchor])
    )
    for node_name, base_url in nodes.items():
        entry = _node_entry(root, node_name, base_url)
        entry.tls_cert.parent.mkdir(parents=True, exist_ok=True)
        tls_key, tls_cert = issue_tls_certificate(ca_key, ca_cert, list(hostnames))
        write_private_key(entry.tls_key, tls_key)
        write_certificates(entry.tls_cert, [tls_cert, ca_cert])
        federation.nodes[node_name] = entry
    federation.save()
    return federation


def load_federation(root: Path) -> Federation:
    manifest_file = root / "federation.json"
    if not manifest_file.exists():
        raise NotFound(
            f"no federation in {root} (run 'hansa federation init {root}')",
            code="federation.not_found",
        )
    manifest = json.loads(manifest_file.read_text())
    federation = Federation(
        name=manifest["name"], root=root, trust_anchor_did=manifest["trustAnchorDid"]
    )
    for node_name, entry in manifest["nodes"].items():
        federation.nodes[node_name] = _node_entry(root, node_name, entry["baseUrl"])
    return federation
