"""Contract negotiation between two real nodes, against one bare HTTPS round trip between them.

    python benchmarks/negotiation.py [--quick]

A local federation (clearing house, provider, consumer over HTTPS on loopback, each with
its own SQLite database; provider and consumer as their own ``hansa serve`` processes, so
that they do not share an interpreter lock) runs N negotiations of one
offer whose policy reads the consumer's membership: each negotiation is four DSP messages
sent from the outbox with DCP ID tokens, one DCP presentation query from the provider to
the consumer's credential service (a vp+jwt verified with its credential, X.509 chain and
status list), and every state persisted on both sides. Measured:

- p50 / p90 latency of one negotiation, one at a time: from ``POST
  /management/negotiations`` at the consumer to its answer of ``GET
  /management/negotiations/{id}?waitFor=FINALIZED`` (two HTTPS calls of the client included);
- negotiations/s with several in flight;
- p50 of one bare HTTPS POST round trip to the provider process (``POST
  /management/ping``, keep-alive), sampled between the negotiations: the unit of the target.

Target: p50 negotiation <= 15 bare round trips. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from hansa.connector.negotiation_lookup import find_offer
from hansa.demo.federation import LocalFederation
from hansa.demo.processes import NodeProcess

POLICY = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "hansa:membership", "operator": "eq", "rightOperand": "bench"}
            ],
        }
    ],
}


def _setup(federation: LocalFederation) -> dict[str, Any]:
    house, provider, consumer = (
        federation["clearing-house"],
        federation["provider"],
        federation["consumer"],
    )
    membership = house.node.identity.issue_credential(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "MembershipCredential"],
            "credentialSubject": {"id": consumer.did, "memberOf": "bench"},
        }
    )
    assert consumer.node.credential_service is not None
    consumer.node.credential_service.hold(membership["id"].split(",", 1)[1])
    assets = provider.node.assets
    assert assets is not None
    assets.create_asset({"type": "HttpData", "baseUrl": "https://data.example.eu/x"}, id="a1")
    assets.create_policy(POLICY, id="p1")
    assets.create_offer("a1", "p1", id="o1")
    assert consumer.node.sts is not None
    address = provider.base_url + "/dsp/2025-1"
    offer = find_offer(consumer.node.http, consumer.node.sts, address, provider.did, "o1")
    return {"address": address, "did": provider.did, "offer": offer}


def _segments(consumer_view: dict[str, Any], provider_view: dict[str, Any]) -> dict[str, float]:
    """Milliseconds between the states both sides recorded (one clock: one machine)."""

    def at(view: dict[str, Any], state: str) -> datetime:
        return next(datetime.fromisoformat(h["at"]) for h in view["history"] if h["state"] == state)

    marks = [
        ("request + claims query", at(consumer_view, "REQUESTED"), at(provider_view, "AGREED")),
        ("agreement hop", at(provider_view, "AGREED"), at(consumer_view, "AGREED")),
        ("verification hop", at(consumer_view, "VERIFIED"), at(provider_view, "VERIFIED")),
        ("finalized hop", at(provider_view, "FINALIZED"), at(consumer_view, "FINALIZED")),
    ]
    return {name: (end - start).total_seconds() * 1000 for name, start, end in marks}


def _negotiate(consumer: httpx.Client, target: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = consumer.post("/management/negotiations", json=target)
    response.raise_for_status()
    pid = response.json()["id"]
    view = consumer.get(
        f"/management/negotiations/{pid}", params={"waitFor": "FINALIZED,TERMINATED"}
    ).json()
    if view["state"] != "FINALIZED":
        raise RuntimeError(f"negotiation ended {view['state']}: {view['error']}")
    return time.perf_counter() - started


def _ping(provider: httpx.Client) -> float:
    started = time.perf_counter()
    provider.post("/management/ping", json={"ping": 1}).raise_for_status()
    return time.perf_counter() - started


def _as_process(federation: LocalFederation, name: str, log_dir: Path) -> NodeProcess:
    """Stop the in-process node ``name`` and run it again as its own process."""
    running = federation.nodes.pop(name)
    running.node.http.close()
    running.server.stop()
    running.node.close()
    return NodeProcess(running.settings, log_file=log_dir / f"{name}.log").start(federation.ca_file)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finish within a minute")
    args = parser.parse_args()
    sequential, concurrent, in_flight = (15, 40, 8) if args.quick else (60, 200, 8)
    with tempfile.TemporaryDirectory() as tmp:
        federation = LocalFederation(Path(tmp), base_port=29600, status_ttl_seconds=300)
        federation.start()
        processes: list[NodeProcess] = []
        try:
            target = _setup(federation)
            provider, consumer = federation["provider"], federation["consumer"]
            clients = {
                name: running.client(federation.ca_file)
                for name, running in (("provider", provider), ("consumer", consumer))
            }
            for running in (provider, consumer):
                running.node.http.close()  # first, so no server waits for an idle peer
            processes = [_as_process(federation, n, Path(tmp)) for n in ("provider", "consumer")]
            body = {
                "providerAddress": target["address"],
                "providerDid": target["did"],
                "offer": target["offer"],
            }
            _negotiate(clients["consumer"], body)  # warm caches: DID documents, status lists
            # Round trips are sampled between negotiations, so both see the same machine load.
            pings = [_ping(clients["provider"]) for _ in range(5)]
            latencies, pings = [], []
            segments: dict[str, list[float]] = {}
            for _ in range(sequential):
                latencies.append(_negotiate(clients["consumer"], body))
                pings.extend(_ping(clients["provider"]) for _ in range(4))
                mine = clients["consumer"].get("/management/negotiations").json()[0]
                theirs = clients["provider"].get(f"/management/negotiations/{mine['providerPid']}")
                for name, ms in _segments(mine, theirs.json()).items():
                    segments.setdefault(name, []).append(ms)
            started = time.perf_counter()
            with ThreadPoolExecutor(in_flight) as pool:
                list(pool.map(lambda _: _negotiate(clients["consumer"], body), range(concurrent)))
            elapsed = time.perf_counter() - started
            for client in clients.values():
                client.close()
        finally:
            for process in processes:
                process.stop()
            federation.stop()
    ping_p50 = statistics.median(pings)
    p50 = statistics.median(latencies)
    figures: dict[str, Any] = {
        "negotiations_sequential": sequential,
        "negotiation_p50_ms": p50 * 1000,
        "negotiation_p90_ms": _percentile(latencies, 0.9) * 1000,
        "negotiations_concurrent": concurrent,
        "in_flight": in_flight,
        "negotiations_per_s": concurrent / elapsed,
        "bare_round_trip_p50_ms": ping_p50 * 1000,
        "negotiation_in_round_trips": p50 / ping_p50,
        "target_round_trips": 15,
        "target_met": p50 / ping_p50 <= 15,
    }
    figures["segments_p50_ms"] = {k: round(statistics.median(v), 2) for k, v in segments.items()}
    for name, ms in figures["segments_p50_ms"].items():
        print(f"  {name}: p50 {ms:.1f} ms")
    print(
        f"negotiation p50 {figures['negotiation_p50_ms']:.1f} ms "
        f"(p90 {figures['negotiation_p90_ms']:.1f} ms), one at a time"
    )
    print(f"{figures['negotiations_per_s']:.1f} negotiations/s with {in_flight} in flight")
    print(f"bare HTTPS POST round trip p50 {figures['bare_round_trip_p50_ms']:.2f} ms")
    print(f"negotiation = {figures['negotiation_in_round_trips']:.1f} round trips (target <= 15)")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
