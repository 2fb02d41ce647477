"""Decentralised claims across nodes: a provider asks the consumer's credential service."""

from __future__ import annotations

import pytest

from hansa.connector.dcp import bearer_token, verify_id_token
from hansa.demo.federation import LocalFederation
from hansa.errors import Unauthorized

SCOPE = "org.eclipse.dspace.dcp.vc.type:MembershipCredential:read"


def test_provider_verifies_the_consumers_claims_over_https(federation: LocalFederation) -> None:
    house, provider, consumer = (
        federation["clearing-house"],
        federation["provider"],
        federation["consumer"],
    )
    membership = house.node.identity.issue_credential(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "MembershipCredential"],
            "credentialSubject": {"id": consumer.did, "memberOf": "demo-eu"},
        }
    )
    assert consumer.node.credential_service is not None
    consumer.node.credential_service.hold(membership["id"].split(",", 1)[1])
    document = consumer.node.identity.did_document()
    assert document["service"][0]["type"] == "CredentialService"

    assert consumer.node.sts is not None
    assert provider.node.replay is not None
    id_token = consumer.node.sts.id_token(provider.did, scopes=[SCOPE])
    claims = verify_id_token(
        bearer_token(f"Bearer {id_token}"),
        provider.node.identity.resolver,
        audience=provider.did,
        replay=provider.node.replay,
    )
    assert provider.node.claims_client is not None
    presented = provider.node.claims_client.fetch_claims(claims, [SCOPE])
    assert presented.holder == consumer.did
    assert presented.missing_scopes == []
    [credential] = presented.credentials
    assert credential.issuer == house.did
    assert "status" in credential.checks

    with pytest.raises(Unauthorized) as replayed:
        verify_id_token(
            id_token,
            provider.node.identity.resolver,
            audience=provider.did,
            replay=provider.node.replay,
        )
    assert replayed.value.code == "dcp.token_replayed"


def test_a_revoked_credential_is_refused_at_the_next_query(federation: LocalFederation) -> None:
    # The provider remembers the verification of a credential presented before; its status
    # is still checked at every query (this federation caches status lists for 0 s).
    house, provider, consumer = (
        federation["clearing-house"],
        federation["provider"],
        federation["consumer"],
    )
    scope = "org.eclipse.dspace.dcp.vc.type:RevocableMembership:read"
    issued = house.node.identity.issue_credential(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "RevocableMembership"],
            "credentialSubject": {"id": consumer.did, "memberOf": "demo-eu"},
        }
    )
    assert consumer.node.credential_service is not None
    assert consumer.node.sts is not None
    assert provider.node.claims_client is not None
    assert provider.node.replay is not None
    consumer.node.credential_service.hold(issued["id"].split(",", 1)[1])

    def fetch() -> list[str]:
        id_token = consumer.node.sts.id_token(provider.did, scopes=[scope])
        claims = verify_id_token(
            id_token,
            provider.node.identity.resolver,
            audience=provider.did,
            replay=provider.node.replay,
        )
        assert provider.node.claims_client is not None
        presented = provider.node.claims_client.fetch_claims(claims, [scope])
        return [check for credential in presented.credentials for check in credential.checks]

    assert "status" in fetch()
    assert "status" in fetch()
    [credential_id] = [
        c.id
        for c in consumer.node.credential_service.store.list_all()
        if "RevocableMembership" in c.types
    ]
    house.node.identity.set_credential_status(credential_id, "revoked")
    with pytest.raises(Unauthorized) as refused:
        fetch()
    assert (refused.value.code, refused.value.extra.get("cause")) == (
        "dcp.presentation_invalid",
        "vc.revoked",
    )
