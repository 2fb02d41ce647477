"""Compliance check time: Hansa's full check against pyshacl's shape validation alone.

    python benchmarks/compliance.py [--quick]

Two presentations, each a ``vp+jwt`` of ``vc+jwt`` credentials whose keys chain to a test
root CA: a participant (LegalPerson, a notary's registration number, Issuer with the T&C
hash) and a service offering (the same plus a gx:ServiceOffering declaring what standard
compliance asks). For each it times Hansa's full check (signatures, X.509 chains, types,
shapes, rules across credentials, criteria; DID documents cached, nothing issued) and, on
the same claims, pyshacl validating them against the official Gaia-X 25.11 shapes alone
(shapes and data graphs parsed beforehand, so only validation is timed). The verdicts must
agree, on these and on a broken participant. Then checks/s with two worker processes.
Target: the full check takes at most one tenth of pyshacl's validation.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The credential builders of the compliance tests: one definition of a complete presentation.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "compliance"))

from compliance_helpers import GAIA_X_TERMS_HASH, Federation, address, variant

from hansa.compliance.registry import Registry
from hansa.compliance.service import ComplianceService
from hansa.compliance.shapes import GX_CLASSES, ShapeValidator
from hansa.compliance.violations import ComplianceFailed
from hansa.db import make_engine, make_session_factory, migrate
from hansa.identity.jsonld import pyld_dataset
from hansa.identity.trust import TrustAnchorService
from hansa.identity.verifier import CredentialVerifier

OFFICIAL_SHAPES = Path(__file__).resolve().parents[2] / "shared/spec/gaia-x-25.11/gx.shacl.ttl"


def _no_status(credential: dict[str, Any], issuer: str | None) -> None:
    raise AssertionError("the benchmark's credentials carry no status entry")


def _no_fetch(url: str) -> bytes:
    raise AssertionError(f"nothing is fetched: DID documents and chains are cached ({url})")


def _no_issue(credential: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError("the benchmark checks; it issues nothing")


class Setup:
    """A clearing house (SQLite registry, trust anchors) and a federation to check."""

    def __init__(self, directory: Path) -> None:
        self.federation = Federation.create()
        engine = make_engine(f"sqlite:///{directory / 'compliance.db'}")
        migrate(engine)
        sessions = make_session_factory(engine)
        trust = TrustAnchorService(sessions, [], [])
        trust.add_root(self.federation.pki.root_pem, "benchmark root")
        registry = Registry(sessions, trust)
        registry.add_terms("25.11", "Gaia-X terms and conditions", sha256=GAIA_X_TERMS_HASH)
        registry.add_party("notary", self.federation.notary.did)
        self.service = ComplianceService(
            verifier=CredentialVerifier(self.federation.pki.resolver, _no_status, trust, _no_fetch),
            shapes=ShapeValidator.builtin(),
            registry=registry,
            issue=_no_issue,
        )
        participant = self.federation.participant_credentials()
        broken = dict(participant)
        broken["legal_person"] = variant(participant["legal_person"], legalAddress=address("XX"))
        self.claims = {
            "participant": participant,
            "service_offering": self.federation.offering_credentials(),
            "broken_participant": broken,
        }
        self.presentations = {
            name: self.federation.presentation(credentials)
            for name, credentials in self.claims.items()
        }

    def hansa_verdict(self, name: str) -> bool:
        try:
            self.service.check(self.presentations[name], "SC")
        except ComplianceFailed:
            return False
        return True


def timed(action: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Median seconds per call of ``action`` over about ``seconds`` (after a warm-up)."""
    action()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 3:
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), len(samples)


def _worker(seconds: float, queue: Any) -> None:
    with tempfile.TemporaryDirectory() as directory:
        setup = Setup(Path(directory))
        presentation = setup.presentations["service_offering"]
        # Warm the caches (contexts, compiled shapes, DID documents) as a serving node has them.
        for _ in range(20):
            setup.service.check(presentation, "SC")
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            setup.service.check(presentation, "SC")
            count += 1
        queue.put(count / (time.perf_counter() - started))


def two_workers(seconds: float) -> float:
    """Checks per second of two processes checking service-offering presentations at once."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_worker, args=(seconds, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    rates = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join()
    return float(sum(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finish within a minute")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 10.0

    import pyshacl
    import rdflib

    if not OFFICIAL_SHAPES.exists():
        raise SystemExit(f"the official 25.11 shapes are not at {OFFICIAL_SHAPES}")
    shapes = rdflib.Graph().parse(OFFICIAL_SHAPES)
    classes = rdflib.Graph().parse(GX_CLASSES)

    def data_graph(credentials: dict[str, dict[str, Any]]) -> Any:
        graph = rdflib.Graph()
        for credential in credentials.values():
            dataset = pyld_dataset(
                {"@context": credential["@context"], **credential["credentialSubject"]}
            )
            graph.parse(
                data="".join(f"{q.subject} {q.predicate} {q.object} .\n" for q in dataset),
                format="nt",
            )
        return graph

    def pyshacl_conforms(graph: Any) -> bool:
        conforms, _, _ = pyshacl.validate(
            graph, shacl_graph=shapes, ont_graph=classes, inference="none"
        )
        return bool(conforms)

    with tempfile.TemporaryDirectory() as directory:
        setup = Setup(Path(directory))
        graphs = {name: data_graph(claims) for name, claims in setup.claims.items()}
        verdicts = {
            name: {"hansa": setup.hansa_verdict(name), "pyshacl": pyshacl_conforms(graph)}
            for name, graph in graphs.items()
        }
        figures: dict[str, Any] = {}
        for name in ("participant", "service_offering"):
            presentation = setup.presentations[name]
            hansa, runs = timed(lambda p=presentation: setup.service.check(p, "SC"), seconds)
            reference, shacl_runs = timed(lambda g=graphs[name]: pyshacl_conforms(g), seconds)
            figures[f"{name}_hansa_ms"] = hansa * 1000
            figures[f"{name}_pyshacl_ms"] = reference * 1000
            figures[f"{name}_ratio"] = hansa / reference
            figures[f"{name}_runs"] = [runs, shacl_runs]

    figures["two_workers_checks_per_s"] = two_workers(seconds)
    figures["same_verdicts"] = all(v["hansa"] == v["pyshacl"] for v in verdicts.values())
    figures["verdicts"] = verdicts
    figures["target_met"] = figures["same_verdicts"] and all(
        figures[f"{name}_ratio"] <= 0.1 for name in ("participant", "service_offering")
    )

    print(f"median per check, {seconds:.0f} s per figure; DID documents cached")
    for name in ("participant", "service_offering"):
        print(
            f"  {name:<17} Hansa full check {figures[f'{name}_hansa_ms']:8.2f} ms   "
            f"pyshacl shapes alone {figures[f'{name}_pyshacl_ms']:8.2f} ms   "
            f"ratio {figures[f'{name}_ratio']:.3f}"
        )
    for name, verdict in verdicts.items():
        print(f"  verdict {name:<19} hansa={verdict['hansa']!s:<5} pyshacl={verdict['pyshacl']}")
    print(f"  two workers: {figures['two_workers_checks_per_s']:,.0f} service-offering checks/s")
    print(f"target: full check <= 1/10 of pyshacl, same verdicts: {figures['target_met']}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
