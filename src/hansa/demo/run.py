"""``hansa demo``: the whole flow on this machine, each step named, with figures.

Grows with every capability. Now: the federation's root of trust, three nodes over
HTTPS, a credential issued by one participant to the other, verified by the clearing
house across nodes (did:web, X.509 chain to the federation root, status list), then
revoked, and verified again: refused; then a contract negotiated over the Dataspace
Protocol between the participants, authenticated with decentralised claims.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from hansa.demo.federation import LocalFederation
from hansa.demo.onboarding import onboard_participants
from hansa.demo.publishing import publish_offering, search_offerings
from hansa.demo.transfer import demo_dataset, pull_dataset, revoke_and_refuse

console = Console(highlight=False, soft_wrap=True)
log = logging.getLogger("hansa.demo")


class StepFailed(Exception):
    """A demo step did not do what it should; the message says what and why."""


class Steps:
    def __init__(self, total: int, log_file: Path) -> None:
        self.total = total
        self.number = 0
        self.log_file = log_file

    def run(self, title: str, action: Callable[[], str]) -> None:
        self.number += 1
        console.print(f"  [bold][{self.number}/{self.total}][/] {title}")
        started = time.perf_counter()
        try:
            result = action()
        except Exception as exc:
            log.error("step %s failed:\n%s", title, traceback.format_exc())
            console.print(f"        [bold red]FAILED[/]: {exc}")
            console.print(f"        details: {self.log_file}")
            raise StepFailed(title) from exc
        elapsed = (time.perf_counter() - started) * 1000
        for line in result.splitlines():
            console.print(f"        {line}")
        log.info("step %s done in %.0f ms", title, elapsed)


def _problem(response: httpx.Response) -> str:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return f"{response.status_code} {body.get('code')}: {body.get('detail')}"


def _expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise StepFailed(f"{what}: expected HTTP {status}, got {_problem(response)}")
    result: dict[str, Any] = response.json()
    return result


def run_flow(federation: LocalFederation, steps: Steps) -> None:
    ca = federation.ca_file
    house, provider, consumer = (
        federation["clearing-house"],
        federation["provider"],
        federation["consumer"],
    )
    state: dict[str, Any] = {}

    def issue() -> str:
        credential = {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "credentialSubject": {
                "id": consumer.did,
                "name": consumer.spec.label,
            },
            "validUntil": "2030-01-01T00:00:00Z",
        }
        with provider.client(ca) as client:
            issued = _expect(
                client.post("/credentials/issue", json={"credential": credential}),
                201,
                "issuing",
            )["verifiableCredential"]
        token = issued["id"].split(",", 1)[1]
        state["vc"] = token
        header_len = len(token)
        return (
            f"{provider.spec.label} ({provider.did}) signs a vc+jwt ({header_len} bytes)\n"
            f"subject {consumer.did}, with revocation and suspension status entries"
        )

    def present_and_verify() -> str:
        nonce = uuid.uuid4().hex
        vp = consumer.node.identity.issue_presentation(
            [state["vc"]], audience=house.did, nonce=nonce
        )
        started = time.perf_counter()
        with house.client(ca, admin=False) as client:
            result = _expect(
                client.post(
                    "/presentations/verify",
                    json={
                        "verifiablePresentation": vp,
                        "options": {"challenge": nonce, "domain": house.did, "x509": True},
                    },
                ),
                200,
                "verifying",
            )
        elapsed = (time.perf_counter() - started) * 1000
        checks = result["credentials"][0]["checks"]
        state["credential_id"] = result["credentials"][0]["credential"]["id"]
        return (
            f"{consumer.spec.label} presents it (vp+jwt, nonce, audience {house.did})\n"
            f"clearing house verifies over HTTPS in {elapsed:.0f} ms: "
            f"holder proof, {', '.join(checks)}\n"
            f"(did:web documents resolved, X.509 chain to the federation root, status list read)"
        )

    def revoke_and_fail() -> str:
        with provider.client(ca) as client:
            _expect(
                client.post(
                    "/credentials/status",
                    json={"credentialId": state["credential_id"], "status": "revoked"},
                ),
                200,
                "revoking",
            )
        with house.client(ca, admin=False) as client:
            response = client.post(
                "/credentials/verify",
                json={"verifiableCredential": state["vc"], "options": {"x509": True}},
            )
        if response.status_code < 400:
            raise StepFailed("a revoked credential still verified")
        code = response.json().get("code")
        if code != "vc.revoked":
            raise StepFailed(f"expected vc.revoked, got {_problem(response)}")
        return (
            f"{provider.spec.label} revokes {state['credential_id']}\n"
            f"clearing house verifies again → refused ({response.status_code} {code})"
        )

    def negotiate() -> str:
        return negotiate_contract(federation)

    steps.run("Onboarding: notary and compliance", lambda: onboard_participants(federation))
    steps.run("Acme publishes a data product", lambda: publish_offering(federation))
    steps.run("Nordlicht searches the catalogue", lambda: search_offerings(federation))
    steps.run("A participant issues a credential to another", issue)
    steps.run("Presented and verified across nodes", present_and_verify)
    steps.run("Revocation", revoke_and_fail)
    steps.run("Contract negotiation over the Dataspace Protocol", negotiate)
    steps.run(
        "Data transfer: the consumer pulls the dataset", lambda: pull_dataset(federation, state)
    )
    steps.run(
        "Agreement revoked: the next pull is refused", lambda: revoke_and_refuse(federation, state)
    )


def negotiate_contract(federation: LocalFederation) -> str:
    """The provider offers a dataset to members; the consumer, a member, negotiates it."""
    ca = federation.ca_file
    house, provider, consumer = (
        federation["clearing-house"],
        federation["provider"],
        federation["consumer"],
    )
    membership = house.node.identity.issue_credential(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "MembershipCredential"],
            "credentialSubject": {"id": consumer.did, "memberOf": federation.name},
        }
    )
    if consumer.node.credential_service is None:
        raise StepFailed("the consumer runs no credential service")
    consumer.node.credential_service.hold(membership["id"].split(",", 1)[1])
    suffix = uuid.uuid4().hex[:8]
    policy = {
        "@context": "http://www.w3.org/ns/odrl.jsonld",
        "@type": "Set",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {
                        "leftOperand": "hansa:membership",
                        "operator": "eq",
                        "rightOperand": federation.name,
                    }
                ],
            }
        ],
    }
    with provider.client(ca) as client:
        _expect(
            client.post(
                "/assets",
                json={
                    "id": f"urn:demo:traffic-{suffix}",
                    "title": "Hamburg traffic counts",
                    "dataAddress": demo_dataset(provider),
                },
            ),
            201,
            "registering the asset",
        )
        _expect(
            client.post("/policies", json={"id": f"urn:demo:members-{suffix}", "policy": policy}),
            201,
            "storing the policy",
        )
        offer = _expect(
            client.post(
                "/offers",
                json={
                    "id": f"urn:demo:offer-{suffix}",
                    "assetId": f"urn:demo:traffic-{suffix}",
                    "policyId": f"urn:demo:members-{suffix}",
                },
            ),
            201,
            "offering the asset",
        )
    started = time.perf_counter()
    with consumer.client(ca) as client:
        view = _expect(
            client.post(
                "/management/negotiations",
                json={"providerAddress": provider.base_url, "offerId": offer["id"]},
            ),
            201,
            "starting the negotiation",
        )
        view = _expect(
            client.get(
                f"/management/negotiations/{view['id']}",
                params={"waitFor": "FINALIZED,TERMINATED"},
            ),
            200,
            "following the negotiation",
        )
    elapsed = (time.perf_counter() - started) * 1000
    if view["state"] != "FINALIZED":
        raise StepFailed(f"the negotiation ended {view['state']}: {view.get('error')}")
    history = view["history"]
    first = datetime.fromisoformat(history[0]["at"])
    timing = ", ".join(
        f"{h['state']} +{(datetime.fromisoformat(h['at']) - first).total_seconds() * 1000:.0f} ms"
        for h in history
    )
    return (
        f"{provider.spec.label} offers {offer['assetId']} to members of {federation.name} "
        f"(ODRL, offer {offer['id']})\n"
        f"{consumer.spec.label} requests it; the provider reads its membership credential "
        "from the consumer's credential service (DCP) and agrees\n"
        f"agreement {view['agreementId']} FINALIZED in {elapsed:.0f} ms: {timing}"
    )


def run_demo(root: Path, *, once: bool, reset: bool, base_port: int = 8440) -> int:
    """Run the demo; returns the exit code (0 only if every step succeeded)."""
    root.mkdir(parents=True, exist_ok=True)
    log_file = root / "demo.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger("hansa").addHandler(handler)
    logging.getLogger("hansa").setLevel(logging.INFO)

    federation = LocalFederation(root, base_port=base_port)
    steps = Steps(11, log_file)
    console.print(f'\nHansa demo federation "{federation.name}" in {root}')
    try:

        def bootstrap() -> str:
            fed = federation.prepare(reset=reset)
            return f"root CA {fed.ca_cert_file}\ntrust-anchor DID {fed.trust_anchor_did}"

        def start() -> str:
            nodes = federation.start()
            return (
                "\n".join(f"{n.spec.label:<24} {n.base_url}  {n.did}" for n in nodes.values())
                + "\neach node's signing key certified by the federation root CA (x5u)"
            )

        steps.run("Federation root CA and trust anchor", bootstrap)
        steps.run("Nodes over HTTPS", start)
        run_flow(federation, steps)
    except StepFailed:
        federation.stop()
        return 1
    except KeyboardInterrupt:
        federation.stop()
        return 130

    console.print("\n[bold green]All steps succeeded.[/]")
    if once:
        federation.stop()
        return 0
    house = federation["clearing-house"]
    console.print("The federation keeps running. Try:")
    console.print(f"  curl --cacert {federation.ca_file} {house.base_url}/.well-known/did.json")
    console.print(f"  open {house.base_url}/docs     (API; trust {federation.ca_file})")
    console.print(f"  admin API keys: {root}/nodes/<node>/admin-api-key")
    console.print(f"Press Ctrl-C to stop. Data stays in {root} (hansa demo --reset to start over).")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    federation.stop()
    return 0
