"""Catalogue: verified ingest rate, keyword+facet search latency, SPARQL, and the FTS5 floor.

    python benchmarks/catalogue.py [--quick] [--offerings N] [--database URL]

Generates varied Gaia-X offering credentials (ServiceOffering, DataProduct, DataResource,
SoftwareResource; eleven sectors; names, descriptions, keywords, formats, countries,
licences, price models) from 200 providers whose keys chain to a federation root CA, each
batch covered by a compliance label, and publishes them through
``CatalogueService.ingest_presentation`` (every signature, x509 chain, digest and ownership
checked; no status lists, so no network). Then it measures:

- ingest rate: verified credentials per second (offerings and labels);
- keyword+facet search p50/p95 (``CatalogueService.search``: prefix words, one facet filter,
  total, all facet counts, first page with highlights, entries loaded);
- a type+keyword SPARQL query on the RDF projection, p50/p95;
- the floor: the same words on a bare SQLite FTS5 table of the same texts
  (``MATCH ... ORDER BY rank LIMIT 20``), p50/p95;
- sync: a second catalogue follows the first over loopback HTTP (the change feed with the
  signed originals, every entry verified again) until it holds the first's
  first ``--sync-entries`` entries (default 10,000; ``--sync-entries 0`` skips it):
  entries/s and the ratio to the ingest rate in entries/s (target >= 0.5).

Target: search p95 <= 3x the floor's p95 at 100,000 offerings. ``--quick``: 10,000
offerings, within a minute. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from hansa.catalogue.api import router as catalogue_router
from hansa.catalogue.federation import CatalogueFederation
from hansa.catalogue.fts import SqliteFullTextIndex, index_texts
from hansa.catalogue.ingest import digest_sri
from hansa.catalogue.offering import project
from hansa.catalogue.search import build_query
from hansa.catalogue.service import CatalogueService, open_catalogue
from hansa.db import make_engine, make_session_factory, migrate
from hansa.fetch import GuardedClient
from hansa.identity.did import DidDocument, build_did_document
from hansa.identity.keys import PrivateKey, generate_private_key
from hansa.identity.pki import certificates_to_pem, create_root_ca, issue_key_certificate
from hansa.identity.trust import TrustAnchorService
from hansa.identity.vc_jose import CREDENTIALS_V2, issue_vc_jwt, issue_vp_jwt
from hansa.identity.verifier import CredentialVerifier
from hansa.serving import BackgroundServer
from hansa.settings import HttpSettings

GX = "https://w3id.org/gaia-x/development#"
CATALOGUE_DID = "did:web:catalogue.example.eu"
COMPLIANCE_DID = "did:web:compliance.example.eu"
BATCH = 50
T = TypeVar("T")

SECTORS: dict[str, list[str]] = {
    "mobility": ["traffic", "parking", "transit", "bicycle", "charging", "routing", "fleet"],
    "energy": ["wind", "solar", "grid", "consumption", "storage", "hydrogen", "forecast"],
    "health": ["clinical", "imaging", "genomics", "wellbeing", "hospital", "pharmacy"],
    "agriculture": ["soil", "harvest", "irrigation", "livestock", "crop", "pesticide"],
    "manufacturing": ["machine", "maintenance", "quality", "supply", "robotics", "twin"],
    "finance": ["payments", "credit", "invoice", "fraud", "insurance", "market"],
    "climate": ["emissions", "temperature", "precipitation", "flood", "drought", "air"],
    "logistics": ["shipment", "warehouse", "container", "port", "tracking", "customs"],
    "retail": ["footfall", "basket", "pricing", "inventory", "loyalty", "ecommerce"],
    "tourism": ["hotel", "booking", "events", "museum", "visitors", "seasonal"],
    "public": ["census", "budget", "procurement", "permits", "cadastre", "elections"],
}
PLACES = [
    "Berlin",
    "Hamburg",
    "Munich",
    "Paris",
    "Lyon",
    "Milan",
    "Madrid",
    "Vienna",
    "Warsaw",
    "Prague",
    "Lisbon",
    "Rotterdam",
    "Antwerp",
    "Copenhagen",
    "Helsinki",
]
COUNTRIES = ["DE", "FR", "IT", "ES", "AT", "PL", "CZ", "PT", "NL", "BE", "DK", "FI", "SE"]
KINDS = [
    ("gx:ServiceOffering", 50),
    ("gx:DataProduct", 35),
    ("gx:DataResource", 10),
    ("gx:SoftwareResource", 5),
]
FORMATS = [
    "application/json",
    "text/csv",
    "application/parquet",
    "application/geo+json",
    "application/xml",
    "application/vnd.apache.avro",
]
LICENCES = ["CC-BY-4.0", "CC0-1.0", "ODbL-1.0", "CC-BY-SA-4.0", "DL-DE-BY-2.0", "proprietary"]
PRICES = ["free", "subscription", "pay-per-use", "one-off", "on-request"]
NOUNS = ["data", "feed", "API", "dataset", "service", "analytics", "stream", "archive"]
ADJECTIVES = [
    "live",
    "historical",
    "hourly",
    "daily",
    "anonymised",
    "aggregated",
    "raw",
    "curated",
    "real-time",
    "monthly",
]


class Party:
    def __init__(self, did: str) -> None:
        self.did = did
        self.key: PrivateKey = generate_private_key()
        self.kid = f"{did}#key-1"


class Federation:
    """Parties with x5c chains to one root, resolved from a dict."""

    def __init__(self) -> None:
        self.ca_key, self.ca_cert = create_root_ca("Benchmark federation root")
        self.documents: dict[str, DidDocument] = {}

    def party(self, did: str) -> Party:
        party = Party(did)
        leaf = issue_key_certificate(self.ca_key, self.ca_cert, did, party.key.public_key())
        document = build_did_document(did, [("key-1", party.key)])
        document["verificationMethod"][0]["publicKeyJwk"]["x5c"] = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in (leaf, self.ca_cert)
        ]
        self.documents[did] = document
        return party

    def resolve(self, did: str) -> DidDocument:
        return self.documents[did]


def offering(rng: random.Random, provider: Party, number: int) -> dict[str, Any]:
    sector = rng.choice(list(SECTORS))
    words = rng.sample(SECTORS[sector], 3)
    place = rng.choice(PLACES)
    kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    name = f"{rng.choice(ADJECTIVES).capitalize()} {words[0]} {rng.choice(NOUNS)} {place}"
    description = (
        f"{rng.choice(ADJECTIVES).capitalize()} {words[0]} and {words[1]} {rng.choice(NOUNS)} "
        f"for the {sector} sector around {place}, updated {rng.choice(ADJECTIVES)}. "
        f"Covers {words[2]}, {rng.choice(SECTORS[sector])} and {rng.choice(NOUNS)} quality "
        f"indicators; offering {number}."
    )
    return {
        "@context": [CREDENTIALS_V2, GX],
        "id": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}",
        "type": ["VerifiableCredential", kind],
        "issuer": provider.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2031-01-01T00:00:00Z",
        "credentialSubject": {
            "id": f"{provider.did}:offerings:{number}",
            "type": kind,
            "gx:providedBy": {"id": provider.did},
            "schema:name": name,
            "schema:description": description,
            "gx:keyword": [sector, *words],
            "gx:formatType": rng.sample(FORMATS, rng.randint(1, 2)),
            "gx:location": {"gx:countryCode": rng.choice(COUNTRIES)},
            "gx:license": rng.choice(LICENCES),
            "hansa:price": {"hansa:priceModel": rng.choice(PRICES), "hansa:currency": "EUR"},
            "gx:endpoint": {
                "gx:endpointURL": f"https://{provider.did.split(':')[2]}/dsp",
                "gx:standardConformity": "Dataspace Protocol 2025-1",
            },
        },
    }


def label(compliance: Party, tokens: list[str], rng: random.Random) -> str:
    covered = [
        {
            "id": json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "==="))["id"],
            "type": "gx:CompliantCredential",
            "gx:credentialType": "gx:ServiceOffering",
            "cred:digestSRI": digest_sri(t),
        }
        for t in tokens
    ]
    for entry, token in zip(covered, tokens, strict=True):
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))
        entry["gx:credentialType"] = payload["credentialSubject"]["type"]
    return issue_vc_jwt(
        {
            "@context": [CREDENTIALS_V2, GX],
            "id": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}",
            "type": ["VerifiableCredential", "gx:LabelCredential"],
            "issuer": compliance.did,
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {
                "type": "gx:LabelCredential",
                "gx:labelLevel": rng.choice(["SC", "SC", "L1", "L2", "L3"]),
                "gx:compliantCredentials": covered,
            },
        },
        compliance.key,
        compliance.kid,
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def timed(action: Callable[..., T], *args: Any) -> tuple[float, T]:
    """Milliseconds ``action(*args)`` took, and what it returned."""
    started = time.perf_counter()
    result = action(*args)
    return (time.perf_counter() - started) * 1000, result


def bare_search(floor: sqlite3.Connection, match: str) -> list[Any]:
    """The floor: the same words on a bare FTS5 table, ranked, first page."""
    return floor.execute(
        "SELECT rowid, bm25(bare) FROM bare WHERE bare MATCH ? ORDER BY rank LIMIT 20", (match,)
    ).fetchall()


def measure_sync(
    workdir: Path,
    source: CatalogueService,
    federation: Federation,
    trust: TrustAnchorService,
    entries: int,
) -> tuple[int, float]:
    """A second catalogue (its own SQLite file) follows ``source`` over loopback HTTP until it
    holds ``entries`` entries: (entries stored, seconds)."""
    app = FastAPI()
    app.include_router(catalogue_router)
    app.state.node = SimpleNamespace(catalogue=source)
    server = BackgroundServer(app, port=0).start()
    engine = make_engine(f"sqlite:///{workdir / 'follower.db'}")
    migrate(engine)
    sessions = make_session_factory(engine)
    follower_trust = TrustAnchorService(sessions, settings_issuers=[COMPLIANCE_DID])
    follower_trust.add_root(certificates_to_pem([federation.ca_cert]))
    follower = open_catalogue(
        engine,
        sessions,
        CredentialVerifier(federation, _no_status, follower_trust, _no_fetch),
        node_did="did:web:follower.example.eu",
        is_compliance_issuer=follower_trust.is_trusted_issuer,
        rdf_path=None,
        cursor_secret=b"benchmark",
    )
    http = GuardedClient(
        HttpSettings(allow_loopback=True, allow_http_on_loopback=True, timeout_seconds=60)
    )
    peers = CatalogueFederation(follower, http)
    peers.add_peer(f"http://127.0.0.1:{server.bound_port()}")
    stored = 0
    started = time.perf_counter()
    try:
        while stored < entries:
            [report] = peers.sync()
            if report.status != "healthy" or not report.stored:
                raise SystemExit(f"sync stopped: {report.to_json()}")
            stored += report.stored
        seconds = time.perf_counter() - started
    finally:
        http.close()
        server.stop()
        engine.dispose()
    return stored, seconds


def _no_status(credential: dict[str, Any], issuer: str) -> None:
    raise AssertionError("benchmark credentials carry no status")


def _no_fetch(url: str) -> bytes:
    raise AssertionError(f"benchmark fetches nothing ({url})")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hansa-catalogue-bench-") as workdir:
        run(Path(workdir))


def run(workdir: Path) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 offerings, within a minute")
    parser.add_argument("--offerings", type=int, default=None)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: SQLite file)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--sync-entries", type=int, default=10_000, help="entries synced (0: no sync figure)"
    )
    args = parser.parse_args()
    total = args.offerings or (10_000 if args.quick else 100_000)
    rng = random.Random(20261127)

    federation = Federation()
    providers = [federation.party(f"did:web:provider-{i}.example.eu") for i in range(200)]
    compliance = federation.party(COMPLIANCE_DID)
    engine = make_engine(args.database or f"sqlite:///{workdir / 'catalogue.db'}")
    migrate(engine)
    sessions = make_session_factory(engine)
    trust = TrustAnchorService(sessions, settings_issuers=[COMPLIANCE_DID])
    trust.add_root(certificates_to_pem([federation.ca_cert]))

    def no_status(credential: dict[str, Any], issuer: str) -> None:
        raise AssertionError("benchmark credentials carry no status")

    def no_fetch(url: str) -> bytes:
        raise AssertionError(f"benchmark fetches nothing ({url})")

    verifier = CredentialVerifier(federation, no_status, trust, no_fetch)
    catalogue: CatalogueService = open_catalogue(
        engine,
        sessions,
        verifier,
        node_did=CATALOGUE_DID,
        is_compliance_issuer=trust.is_trusted_issuer,
        rdf_path=None,
        cursor_secret=b"benchmark",
    )

    started = time.perf_counter()
    presentations: list[tuple[str, int]] = []
    texts: list[dict[str, str]] = []
    for start in range(0, total, BATCH):
        provider = providers[(start // BATCH) % len(providers)]
        credentials = [offering(rng, provider, n) for n in range(start, min(total, start + BATCH))]
        texts.extend(index_texts(project(c)) for c in credentials)
        tokens = [issue_vc_jwt(c, provider.key, provider.kid) for c in credentials]
        tokens.append(label(compliance, tokens, rng))
        vp = issue_vp_jwt(tokens, provider.did, provider.key, provider.kid, audience=CATALOGUE_DID)
        presentations.append((vp, len(tokens)))
    generated = time.perf_counter() - started

    verified = 0
    started = time.perf_counter()
    for vp, count in presentations:
        catalogue.ingest_presentation(vp)
        verified += count
    ingest_seconds = time.perf_counter() - started
    del presentations  # a serving node does not hold what it was sent
    gc.collect()

    floor = sqlite3.connect(":memory:")
    floor.execute(
        "CREATE VIRTUAL TABLE bare USING fts5(name, description, keywords, other, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
    )
    floor.executemany("INSERT INTO bare VALUES (:name, :description, :keywords, :other)", texts)
    floor.commit()

    vocabulary = sorted({w for words in SECTORS.values() for w in words} | set(SECTORS))
    facets = [
        ("type", ["ServiceOffering", "DataProduct", "DataResource"]),
        ("country", COUNTRIES),
        ("label", ["SC", "L1", "L2"]),
        ("price_model", PRICES),
        ("licence", LICENCES),
    ]
    search_ms: list[float] = []
    floor_ms: list[float] = []
    hits = 0
    for _ in range(args.queries):
        word = rng.choice(vocabulary)
        word = word[: rng.randint(4, len(word))] if len(word) > 4 else word
        facet, values = rng.choice(facets)
        query = build_query(word, {facet: [rng.choice(values)]})
        match = SqliteFullTextIndex.match_expression(query.terms)
        floor_ms.append(timed(bare_search, floor, match)[0])
        elapsed, result = timed(catalogue.search, query)
        search_ms.append(elapsed)
        hits += result["total"]

    sparql_ms: list[float] = []
    for _ in range(max(20, args.queries // 5)):
        kind = rng.choice(["ServiceOffering", "DataProduct"])
        word = rng.choice(list(SECTORS))
        sparql = (
            f'SELECT ?s ?name WHERE {{ ?s a gx:{kind} ; gx:keyword "{word}" ; '
            "schema:name ?name } LIMIT 20"
        )
        sparql_ms.append(timed(lambda q: list(catalogue.sparql(q)), sparql)[0])

    sync = (
        measure_sync(workdir, catalogue, federation, trust, min(total, args.sync_entries))
        if args.sync_entries
        else None
    )

    search_p50, search_p95 = percentiles(search_ms)
    floor_p50, floor_p95 = percentiles(floor_ms)
    sparql_p50, sparql_p95 = percentiles(sparql_ms)
    figures = {
        "offerings": total,
        "backend": engine.dialect.name,
        "generate_seconds": generated,
        "ingest_verified_per_second": verified / ingest_seconds,
        "ingest_seconds": ingest_seconds,
        "search_p50_ms": search_p50,
        "search_p95_ms": search_p95,
        "search_mean_hits": hits / args.queries,
        "fts5_floor_p50_ms": floor_p50,
        "fts5_floor_p95_ms": floor_p95,
        "search_p95_over_floor": search_p95 / floor_p95 if floor_p95 else None,
        "target_p95_over_floor": 3.0,
        "sparql_p50_ms": sparql_p50,
        "sparql_p95_ms": sparql_p95,
    }
    if sync is not None:
        entries, seconds = sync
        ingest_entries_per_second = total / ingest_seconds
        figures["sync_entries"] = entries
        figures["sync_entries_per_second"] = entries / seconds
        figures["ingest_entries_per_second"] = ingest_entries_per_second
        figures["sync_over_ingest"] = entries / seconds / ingest_entries_per_second
        figures["target_sync_over_ingest"] = 0.5
    print(f"{total} offerings from {len(providers)} providers ({engine.dialect.name})")
    print(f"  generated and signed in {generated:.1f} s")
    print(f"  ingest: {figures['ingest_verified_per_second']:.0f} verified credentials/s")
    print(f"  search (keyword+facet): p50 {search_p50:.2f} ms, p95 {search_p95:.2f} ms")
    print(f"  bare FTS5 floor:        p50 {floor_p50:.2f} ms, p95 {floor_p95:.2f} ms")
    print(f"  SPARQL type+keyword:    p50 {sparql_p50:.2f} ms, p95 {sparql_p95:.2f} ms")
    if sync is not None:
        print(
            f"  sync over loopback:     {figures['sync_entries_per_second']:.0f} entries/s "
            f"({figures['sync_over_ingest']:.2f}x ingest's "
            f"{figures['ingest_entries_per_second']:.0f} entries/s)"
        )
    engine.dispose()
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
