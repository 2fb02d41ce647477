"""The DCP credential service over real loopback HTTP, on SQLite and PostgreSQL.

A holder node serves its credential service; a verifier node receives the holder's ID token,
queries the service with its own ID token carrying the holder's access token, and verifies the
presentation with the identity verifier.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from dcp_parties import Party, Resolver
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.credential_service import (
    CredentialService,
    CredentialServiceClient,
    SecureTokenService,
    credential_service_entry,
    credential_service_url,
    query_presentations,
    verify_presentation_response,
)
from hansa.connector.credential_store import CredentialStore
from hansa.connector.dcp import IdTokenClaims, issue_id_token, verify_id_token
from hansa.connector.dcp_api import router
from hansa.connector.dcp_schemas import DCP_CONTEXT, RESPONSE_SCHEMA, schema_errors
from hansa.connector.replay import ReplayGuard
from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.identity.jose import decode_unverified
from hansa.identity.trust import TrustAnchorService
from hansa.identity.validity import format_datetime
from hansa.identity.vc_jose import CREDENTIALS_V2, issue_vc_jwt, issue_vp_jwt
from hansa.identity.verifier import CredentialVerifier
from hansa.serving import BackgroundServer
from hansa.settings import HttpSettings, Settings
from hansa.web import install_error_handlers

HOLDER = "did:web:holder.example"
VERIFIER = "did:web:verifier.example"
ISSUER = "did:web:issuer.example"
MEMBERSHIP = "org.eclipse.dspace.dcp.vc.type:MembershipCredential:read"
LABEL = "org.eclipse.dspace.dcp.vc.type:LabelCredential:read"
ADMIN = {"Authorization": "Bearer admin-key"}


def _credential(kind: str, subject: str = HOLDER, **extra: Any) -> dict[str, Any]:
    return {
        "@context": [CREDENTIALS_V2],
        "id": f"urn:uuid:{kind.lower()}-{subject.rsplit(':', 1)[-1]}",
        "type": ["VerifiableCredential", kind],
        "issuer": ISSUER,
        "validFrom": format_datetime(datetime.now(UTC) - timedelta(days=1)),
        "credentialSubject": {"id": subject, "level": "1"},
        **extra,
    }


@dataclass
class World:
    resolver: Resolver
    holder: Party
    verifier: Party
    issuer: Party
    service: CredentialService
    holder_sts: SecureTokenService
    verifier_sts: SecureTokenService
    client: CredentialServiceClient
    http: GuardedClient
    base_url: str
    api: httpx.Client
    sessions: sessionmaker[Session]
    clock_offset: list[timedelta]

    def vc(self, kind: str, subject: str = HOLDER, **extra: Any) -> str:
        return issue_vc_jwt(_credential(kind, subject, **extra), self.issuer.key, self.issuer.kid)

    def received(self, scopes: list[str]) -> IdTokenClaims:
        """The holder's ID token as the verifier receives and verifies it with a DSP request."""
        token = self.holder_sts.id_token(VERIFIER, scopes=scopes)
        return verify_id_token(
            token, self.resolver, audience=VERIFIER, replay=ReplayGuard(self.sessions)
        )


def _signer(party: Party) -> Any:
    return lambda: (party.kid, party.key)


@pytest.fixture
def world(sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[World]:
    resolver = Resolver()
    clock_offset = [timedelta(0)]
    holder, verifier, issuer = Party(HOLDER), Party(VERIFIER), Party(ISSUER)
    verifier.publish(resolver)
    issuer.publish(resolver)
    service = CredentialService(
        did=HOLDER,
        store=CredentialStore(sessions),
        signer=_signer(holder),
        resolver=resolver,
        replay=ReplayGuard(sessions),
        clock=lambda: datetime.now(UTC) + clock_offset[0],
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)

    @app.post("/not-dcp/presentations/query")
    def not_dcp() -> dict[str, str]:
        return {"type": "SomethingElse"}

    app.state.settings = Settings(data_dir=tmp_path, admin_api_key="admin-key")  # type: ignore[arg-type]
    app.state.node = SimpleNamespace(credential_service=service)
    server = BackgroundServer(app, port=0).start()
    base_url = f"http://127.0.0.1:{server.bound_port()}"
    entry = credential_service_entry(HOLDER, base_url)
    holder.publish(resolver, services=(entry,))
    http = GuardedClient(HttpSettings(allow_loopback=True, allow_http_on_loopback=True))
    verifier_sts = SecureTokenService(VERIFIER, _signer(verifier))
    trust = TrustAnchorService(sessions, (), (ISSUER,))
    identity_verifier = CredentialVerifier(resolver, lambda _c, _i: None, trust, lambda _u: b"")
    client = CredentialServiceClient(
        did=VERIFIER, http=http, resolver=resolver, sts=verifier_sts, verifier=identity_verifier
    )
    with httpx.Client(base_url=base_url) as api:
        built = World(
            resolver=resolver,
            holder=holder,
            verifier=verifier,
            issuer=issuer,
            service=service,
            holder_sts=SecureTokenService(HOLDER, _signer(holder)),
            verifier_sts=verifier_sts,
            client=client,
            http=http,
            base_url=base_url,
            api=api,
            sessions=sessions,
            clock_offset=clock_offset,
        )
        built.service.hold(built.vc("MembershipCredential"))
        built.service.hold(built.vc("LabelCredential"))
        yield built
    http.close()
    server.stop()


def _query(world: World, token: str | None, message: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return world.api.post("/dcp/presentations/query", json=message, headers=headers)


def _scope_message(*scopes: str) -> dict[str, Any]:
    return {"@context": [DCP_CONTEXT], "type": "PresentationQueryMessage", "scope": list(scopes)}


def _verifier_token(world: World, scopes: list[str], **overrides: Any) -> str:
    """What the verifier sends: its own ID token, forwarding the holder's access token."""
    access_token = world.received(scopes).access_token
    arguments: dict[str, Any] = {
        "issuer_did": VERIFIER,
        "private_key": world.verifier.key,
        "kid": world.verifier.kid,
        "audience": HOLDER,
        "access_token": access_token,
    }
    arguments.update(overrides)
    return issue_id_token(**arguments)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    return problem


# --- the whole flow ---------------------------------------------------------------------------


def test_verifier_obtains_exactly_the_granted_credentials(world: World) -> None:
    claims = world.received([MEMBERSHIP])
    presented = world.client.fetch_claims(claims, [MEMBERSHIP])
    assert presented.holder == HOLDER
    assert [c.credential["type"][1] for c in presented.credentials] == ["MembershipCredential"]
    assert presented.credentials[0].checks == ["proof", "validity", "trustedIssuer"]
    assert presented.missing_scopes == []


def test_scopes_beyond_the_grant_give_fewer_credentials(world: World) -> None:
    claims = world.received([MEMBERSHIP])
    presented = world.client.fetch_claims(claims, [MEMBERSHIP, LABEL])
    assert [c.credential["type"][1] for c in presented.credentials] == ["MembershipCredential"]
    assert presented.missing_scopes == [LABEL]


def test_response_is_a_schema_valid_vp_for_the_verifier(world: World) -> None:
    response = _query(world, _verifier_token(world, [MEMBERSHIP, LABEL]), _scope_message(LABEL))
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors(body, RESPONSE_SCHEMA) == []
    assert len(body["presentation"]) == 1
    header, vp = decode_unverified(body["presentation"][0])
    assert header["typ"] == "vp+jwt"
    assert vp["aud"] == VERIFIER
    assert vp["holder"] == HOLDER
    assert len(vp["verifiableCredential"]) == 1


def test_nothing_granted_gives_an_empty_presentation_list(world: World) -> None:
    token = _verifier_token(world, ["org.eclipse.dspace.dcp.vc.type:Other:read"])
    response = _query(world, token, _scope_message(MEMBERSHIP))
    assert response.status_code == 200
    assert response.json()["presentation"] == []


def test_expired_credentials_are_not_released(world: World) -> None:
    valid_until = format_datetime(datetime.now(UTC) + timedelta(seconds=30))
    expiring = _credential("ShortCredential", validUntil=valid_until)
    world.service.hold(issue_vc_jwt(expiring, world.issuer.key, world.issuer.kid))
    scope = "org.eclipse.dspace.dcp.vc.type:ShortCredential"
    token = _verifier_token(world, [scope])
    assert len(_query(world, token, _scope_message(scope)).json()["presentation"]) == 1
    world.clock_offset[0] = timedelta(minutes=1)
    token = _verifier_token(world, [scope])
    assert _query(world, token, _scope_message(scope)).json()["presentation"] == []


def test_presentation_definition_query_has_a_submission(world: World) -> None:
    definition = {
        "id": "membership",
        "input_descriptors": [
            {
                "id": "member",
                "constraints": {
                    "fields": [
                        {
                            "path": ["$.type"],
                            "filter": {"type": "string", "pattern": "MembershipCredential"},
                        }
                    ]
                },
            }
        ],
    }
    message = {
        "@context": [DCP_CONTEXT],
        "type": "PresentationQueryMessage",
        "presentationDefinition": definition,
    }
    response = _query(world, _verifier_token(world, [MEMBERSHIP, LABEL]), message)
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors(body, RESPONSE_SCHEMA) == []
    submission = body["presentationSubmission"]
    assert submission["definition_id"] == "membership"
    assert submission["descriptor_map"] == [
        {
            "id": "member",
            "format": "jwt_vp",
            "path": "$.presentation[0]",
            "path_nested": {
                "id": "member",
                "format": "jwt_vc",
                "path": "$.verifiableCredential[0]",
            },
        }
    ]


# --- refusals at the credential service ------------------------------------------------------


def test_missing_authorization(world: World) -> None:
    response = _query(world, None, _scope_message(MEMBERSHIP))
    _problem(response, 401, "dcp.token_missing")
    assert response.headers["www-authenticate"] == "Bearer"


def test_unauthenticated_caller_learns_nothing_about_the_body(world: World) -> None:
    response = world.api.post("/dcp/presentations/query", content=b"{not json")
    _problem(response, 401, "dcp.token_missing")


def test_token_for_another_audience(world: World) -> None:
    token = _verifier_token(world, [MEMBERSHIP], audience="did:web:someone-else.example")
    _problem(_query(world, token, _scope_message(MEMBERSHIP)), 401, "dcp.audience_mismatch")


def test_replayed_token(world: World) -> None:
    token = _verifier_token(world, [MEMBERSHIP])
    assert _query(world, token, _scope_message(MEMBERSHIP)).status_code == 200
    _problem(_query(world, token, _scope_message(MEMBERSHIP)), 401, "dcp.token_replayed")


def test_holder_token_replayed_at_its_own_service(world: World) -> None:
    # The holder's ID token (aud = verifier) is useless to anyone who intercepts it here.
    token = world.holder_sts.id_token(VERIFIER, scopes=[MEMBERSHIP])
    _problem(_query(world, token, _scope_message(MEMBERSHIP)), 401, "dcp.audience_mismatch")


def test_expired_token(world: World) -> None:
    token = _verifier_token(world, [MEMBERSHIP], now=datetime.now(UTC) - timedelta(hours=1))
    _problem(_query(world, token, _scope_message(MEMBERSHIP)), 401, "dcp.token_expired")


def test_tampered_token(world: World) -> None:
    header, body, signature = _verifier_token(world, [MEMBERSHIP]).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    problem = _problem(
        _query(world, f"{header}.{body}.{flipped}", _scope_message(MEMBERSHIP)),
        401,
        "dcp.token_invalid",
    )
    assert problem["cause"] == "vc.signature_invalid"


def test_missing_access_token(world: World) -> None:
    token = _verifier_token(world, [MEMBERSHIP], access_token=None)
    _problem(_query(world, token, _scope_message(MEMBERSHIP)), 401, "dcp.access_token_missing")


def test_access_token_granted_to_another_verifier(world: World) -> None:
    # A third party got hold of an access token granted to the verifier and forwards it.
    thief = Party("did:web:thief.example").publish(world.resolver)
    stolen = world.received([MEMBERSHIP]).access_token
    token = issue_id_token(
        issuer_did=thief.did,
        private_key=thief.key,
        kid=thief.kid,
        audience=HOLDER,
        access_token=stolen,
    )
    _problem(_query(world, token, _scope_message(MEMBERSHIP)), 403, "dcp.access_token_not_bound")


def test_invalid_query_messages(world: World) -> None:
    cases: list[tuple[Any, int, str, str | None]] = [
        (
            {"@context": [DCP_CONTEXT], "type": "PresentationQueryMessage"},
            400,
            "dcp.query_invalid",
            None,
        ),
        (_scope_message(), 400, "dcp.query_invalid", "/scope"),
        (
            {**_scope_message(MEMBERSHIP), "@context": ["urn:x"]},
            400,
            "dcp.query_invalid",
            "/@context",
        ),
        ({**_scope_message(MEMBERSHIP), "type": "Query"}, 400, "dcp.query_invalid", "/type"),
        (
            {
                **_scope_message(MEMBERSHIP),
                "presentationDefinition": {"id": "x", "input_descriptors": []},
            },
            400,
            "dcp.query_ambiguous",
            None,
        ),
        (
            {
                "@context": [DCP_CONTEXT],
                "type": "PresentationQueryMessage",
                "presentationDefinition": {
                    "id": "x",
                    "input_descriptors": [],
                    "submission_requirements": [{"rule": "all", "from": "A"}],
                },
            },
            501,
            "dcp.presentation_definition_unsupported",
            "/presentationDefinition/submission_requirements",
        ),
    ]
    for message, status, code, pointer in cases:
        problem = _problem(
            _query(world, _verifier_token(world, [MEMBERSHIP]), message), status, code
        )
        if pointer is not None:
            assert problem["pointer"] == pointer, message


def test_malformed_json_after_authentication(world: World) -> None:
    response = world.api.post(
        "/dcp/presentations/query",
        content=b"{not json",
        headers={"Authorization": f"Bearer {_verifier_token(world, [MEMBERSHIP])}"},
    )
    _problem(response, 400, "request.malformed_json")


# --- the verifier's checks ------------------------------------------------------------------


def _response(*presentations: str) -> dict[str, Any]:
    return {
        "@context": [DCP_CONTEXT],
        "type": "PresentationResponseMessage",
        "presentation": list(presentations),
    }


def _verify(world: World, response: dict[str, Any], scopes: list[str]) -> Any:
    return verify_presentation_response(
        response, world.client._verifier, holder=HOLDER, audience=VERIFIER, scopes=scopes
    )


def test_presentation_of_another_holder_is_refused(world: World) -> None:
    other = Party("did:web:other.example").publish(world.resolver)
    vp = issue_vp_jwt(
        [world.vc("MembershipCredential", other.did)],
        other.did,
        other.key,
        other.kid,
        audience=VERIFIER,
    )
    with pytest.raises(HansaError) as exc:
        _verify(world, _response(vp), [MEMBERSHIP])
    assert (exc.value.code, exc.value.status_code) == ("dcp.presentation_holder_mismatch", 403)


def test_credential_not_asked_for_is_refused(world: World) -> None:
    vp = issue_vp_jwt(
        [world.vc("MembershipCredential"), world.vc("LabelCredential")],
        HOLDER,
        world.holder.key,
        world.holder.kid,
        audience=VERIFIER,
    )
    with pytest.raises(HansaError) as exc:
        _verify(world, _response(vp), [MEMBERSHIP])
    assert (exc.value.code, exc.value.status_code) == ("dcp.presentation_scope_mismatch", 403)
    assert exc.value.pointer == "/presentation/0/verifiableCredential/1"


def test_presentation_for_another_verifier_or_untrusted_issuer(world: World) -> None:
    elsewhere = issue_vp_jwt(
        [world.vc("MembershipCredential")],
        HOLDER,
        world.holder.key,
        world.holder.kid,
        audience="did:web:x.example",
    )
    stranger = Party("did:web:stranger.example").publish(world.resolver)
    untrusted_vc = issue_vc_jwt(
        _credential("MembershipCredential") | {"issuer": stranger.did}, stranger.key, stranger.kid
    )
    untrusted = issue_vp_jwt(
        [untrusted_vc], HOLDER, world.holder.key, world.holder.kid, audience=VERIFIER
    )
    for vp, cause in ((elsewhere, "vp.audience_mismatch"), (untrusted, "trust.untrusted_issuer")):
        with pytest.raises(HansaError) as exc:
            _verify(world, _response(vp), [MEMBERSHIP])
        assert (exc.value.code, exc.value.status_code) == ("dcp.presentation_invalid", 401)
        assert exc.value.extra["cause"] == cause


def test_no_credential_service_in_the_did_document(world: World) -> None:
    with pytest.raises(HansaError) as exc:
        credential_service_url(world.resolver.resolve(VERIFIER))
    assert (exc.value.code, exc.value.status_code) == ("dcp.credential_service_missing", 401)
    assert credential_service_url(world.resolver.resolve(HOLDER)) == world.base_url + "/dcp"


def test_refused_query_names_the_remote_code(world: World) -> None:
    with pytest.raises(HansaError) as exc:
        query_presentations(
            world.http, world.base_url + "/dcp", id_token="x.y.z", scopes=[MEMBERSHIP]
        )
    assert exc.value.code == "dcp.query_refused"
    assert exc.value.extra["upstream_status"] == 401
    assert exc.value.extra["upstream_code"] == "dcp.token_invalid"


def test_invalid_response_from_a_credential_service(world: World) -> None:
    with pytest.raises(HansaError) as exc:
        query_presentations(
            world.http, world.base_url + "/not-dcp", id_token="x", scopes=[MEMBERSHIP]
        )
    assert (exc.value.code, exc.value.status_code) == ("dcp.response_invalid", 502)
    assert exc.value.pointer == ""


# --- the node's own credentials ------------------------------------------------------------


def test_hold_list_and_remove_over_the_admin_api(world: World) -> None:
    token = world.vc("ComplianceCredential")
    enveloped = {"id": f"data:application/vc+jwt,{token}", "type": "EnvelopedVerifiableCredential"}
    created = world.api.post("/dcp/credentials", json={"credential": enveloped}, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["type"] == ["VerifiableCredential", "ComplianceCredential"]
    listed = world.api.get("/dcp/credentials", headers=ADMIN).json()
    assert len(listed) == 3
    identifier = created.json()["id"]
    assert world.api.delete(f"/dcp/credentials/{identifier}", headers=ADMIN).status_code == 204
    _problem(
        world.api.delete(f"/dcp/credentials/{identifier}", headers=ADMIN),
        404,
        "dcp.credential_not_found",
    )
    _problem(world.api.get("/dcp/credentials"), 401, "auth.missing_credentials")


def test_a_node_holds_only_its_own_credentials(world: World) -> None:
    token = world.vc("MembershipCredential", "did:web:someone-else.example")
    response = world.api.post("/dcp/credentials", json={"credential": token}, headers=ADMIN)
    _problem(response, 422, "dcp.credential_not_for_holder")
    response = world.api.post("/dcp/credentials", json={"credential": "not a jwt"}, headers=ADMIN)
    _problem(response, 400, "dcp.credential_unsupported")


def test_official_examples_validate() -> None:
    examples = Path(__file__).parent / "dcp_examples"
    for path in sorted(examples.glob("*.json")):
        document = json.loads(path.read_text())
        schema = (
            RESPONSE_SCHEMA
            if "response" in path.name
            else RESPONSE_SCHEMA.replace("response", "query")
        )
        assert schema_errors(document, schema) == [], path.name
