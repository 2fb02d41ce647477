"""The catalogue's SPARQL 1.1 endpoint: read-only, time-limited, capped.

What a request may do:

- **Read only.** Queries are evaluated with pyoxigraph's query API, which cannot execute an
  update. To answer an update with its own code (``catalogue.sparql_update_refused``) rather
  than a parse error, :func:`is_update` asks pyoxigraph's *update parser* on a throw-away
  empty store, with two operations in front of the text that fail before any of the
  caller's operations could run (pyoxigraph parses the whole request before executing it):
  nothing of the caller's update is ever executed, a ``LOAD`` fetches nothing.
- **A deadline and a result cap.** pyoxigraph has no timeout. Evaluation runs on a worker
  thread (pyoxigraph releases the GIL) and is consumed lazily: the worker stops iterating at
  the deadline or at the cap, so a query streaming an endless cross product stops there and
  costs nothing more. Operators that must see every solution before the first one leaves
  (``ORDER BY``, ``GROUP BY`` / aggregates) cannot be interrupted inside pyoxigraph: the
  caller gets ``catalogue.sparql_timeout`` (503) at the deadline and the worker finishes that
  one step in the background. At most :data:`MAX_RUNNING` evaluations run at once; further
  queries are refused with ``catalogue.sparql_busy`` (503) until a worker is free, so
  runaway queries can occupy at most that many CPU cores, never queue up more.
- ``catalogue.sparql_invalid`` (400) carries the parser's message.

Results: SELECT as SPARQL 1.1 JSON, CSV or TSV; ASK as JSON; CONSTRUCT / DESCRIBE as
N-Triples or Turtle. A capped SELECT says so in :attr:`SparqlResult.truncated`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph as ox

from hansa.errors import BadRequest, HansaError

#: Seconds one query may take (evaluation and reading its solutions).
QUERY_SECONDS = 5.0
#: Solutions (or triples) returned at most; more are cut off (``truncated``).
MAX_RESULTS = 10_000
#: Evaluations running at once; more are refused with ``catalogue.sparql_busy``.
MAX_RUNNING = 2
#: Longest query text accepted.
MAX_QUERY_CHARS = 20_000

MEDIA_JSON = "application/sparql-results+json"
MEDIA_CSV = "text/csv"
MEDIA_TSV = "text/tab-separated-values"
MEDIA_NTRIPLES = "application/n-triples"
MEDIA_TURTLE = "text/turtle"

_PROBE_GRAPH = "<urn:hansa:sparql:probe>"
# The prologue (BASE / PREFIX declarations, comments) must stay first in an update request:
# the probe's operations go after it. Only its extent is found here; the parser judges it.
_PROLOGUE = re.compile(
    r"(?:\s+|#[^\n]*(?:\n|$)|BASE\s*<[^>\s]*>|PREFIX\s+[^\s:]*:\s*<[^>\s]*>)*",
    re.IGNORECASE,
)


def is_update(text: str) -> bool:
    """True when pyoxigraph parses ``text`` as a SPARQL Update request (never runs it)."""
    prologue = _PROLOGUE.match(text)
    split = prologue.end() if prologue else 0
    probe = (
        f"{text[:split]}\nCREATE GRAPH {_PROBE_GRAPH} ; CREATE GRAPH {_PROBE_GRAPH} ;\n"
        f"{text[split:]}"
    )
    try:
        ox.Store().update(probe)
    except SyntaxError:
        return False
    except Exception:  # the probe's second CREATE failed: it parsed as an update
        return True
    return True  # unreachable in practice: the probe's second CREATE always fails


@dataclass
class SparqlResult:
    """What a query produced, ready to serialise."""

    form: str
    """``select``, ``ask`` or ``graph`` (CONSTRUCT / DESCRIBE)."""
    variables: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    triples: list[ox.Triple] = field(default_factory=list)
    boolean: bool | None = None
    truncated: bool = False


def _term_json(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            out["datatype"] = term.datatype.value
        return out
    return {"type": "triple", "value": str(term)}


def to_json(result: SparqlResult) -> bytes:
    """SPARQL 1.1 Query Results JSON (SELECT, ASK)."""
    if result.form == "ask":
        return json.dumps({"head": {}, "boolean": bool(result.boolean)}).encode()
    bindings = [
        {
            name: _term_json(term)
            for name, term in zip(result.variables, row, strict=True)
            if term is not None
        }
        for row in result.rows
    ]
    return json.dumps(
        {"head": {"vars": result.variables}, "results": {"bindings": bindings}},
        ensure_ascii=False,
    ).encode()


def to_csv(result: SparqlResult) -> bytes:
    """SPARQL 1.1 CSV: plain values, no types."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(result.variables)
    for row in result.rows:
        writer.writerow(["" if t is None else getattr(t, "value", str(t)) for t in row])
    return buffer.getvalue().encode()


def to_tsv(result: SparqlResult) -> bytes:
    """SPARQL 1.1 TSV: terms in their Turtle / N-Triples syntax."""
    lines = ["\t".join("?" + name for name in result.variables)]
    lines += ["\t".join("" if t is None else str(t) for t in row) for row in result.rows]
    return ("\n".join(lines) + "\n").encode()


def to_graph(result: SparqlResult, media_type: str) -> bytes:
    """CONSTRUCT / DESCRIBE output as N-Triples or Turtle."""
    rdf_format = ox.RdfFormat.TURTLE if media_type == MEDIA_TURTLE else ox.RdfFormat.N_TRIPLES
    return ox.serialize(result.triples, format=rdf_format) or b""


def negotiate(accept: str, form: str) -> str:
    """The media type to answer with, from the ``Accept`` header and the query form."""
    accept = accept.lower()
    if form == "graph":
        return MEDIA_TURTLE if MEDIA_TURTLE in accept else MEDIA_NTRIPLES
    if form == "select" and MEDIA_CSV in accept:
        return MEDIA_CSV
    if form == "select" and MEDIA_TSV in accept:
        return MEDIA_TSV
    return MEDIA_JSON


def serialise(result: SparqlResult, media_type: str) -> bytes:
    if media_type == MEDIA_CSV:
        return to_csv(result)
    if media_type == MEDIA_TSV:
        return to_tsv(result)
    if media_type in (MEDIA_TURTLE, MEDIA_NTRIPLES):
        return to_graph(result, media_type)
    return to_json(result)


class SparqlRunner:
    """Runs read-only queries against a pyoxigraph query function with a deadline and a cap."""

    def __init__(
        self,
        query: Callable[[str], Any],
        *,
        seconds: float = QUERY_SECONDS,
        max_results: int = MAX_RESULTS,
        max_running: int = MAX_RUNNING,
        prefixes: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._query = query
        # The prefixes ``query`` predeclares: the update check must know them too.
        self._prologue = " ".join(f"PREFIX {k}: <{v}>" for k, v in (prefixes or {}).items())
        self.seconds = seconds
        self.max_results = max_results
        self._slots = threading.BoundedSemaphore(max_running)
        self._pool = ThreadPoolExecutor(max_running, thread_name_prefix="hansa-sparql")
        self._clock = clock

    def run(self, text: str) -> SparqlResult:
        """Evaluate ``text`` (a SELECT, ASK, CONSTRUCT or DESCRIBE query)."""
        if len(text) > MAX_QUERY_CHARS:
            raise BadRequest(
                f"the query has {len(text)} characters; at most {MAX_QUERY_CHARS} are accepted",
                code="catalogue.sparql_invalid",
                pointer="query",
            )
        if not text.strip():
            raise BadRequest(
                "give a SPARQL query: ?query=... or a POST body of type application/sparql-query",
                code="catalogue.sparql_invalid",
                pointer="query",
            )
        if is_update(f"{self._prologue} {text}"):
            raise BadRequest(
                "this endpoint is read-only: SPARQL Update (INSERT, DELETE, LOAD, CLEAR, ...) "
                "is refused; send a SELECT, ASK, CONSTRUCT or DESCRIBE query",
                code="catalogue.sparql_update_refused",
                pointer="query",
            )
        if not self._slots.acquire(blocking=False):
            raise HansaError(
                "every SPARQL worker is busy with a long query; try again shortly",
                code="catalogue.sparql_busy",
                status=503,
            )
        deadline = self._clock() + self.seconds
        try:
            future = self._pool.submit(self._evaluate, text, deadline)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return future.result(timeout=max(0.0, deadline - self._clock()) + 0.05)
        except FutureTimeout:
            raise self._timeout() from None

    def _timeout(self) -> HansaError:
        return HansaError(
            f"the query ran longer than {self.seconds:g} s and was stopped; narrow it "
            "(more specific patterns, a LIMIT) or aggregate less",
            code="catalogue.sparql_timeout",
            status=503,
        )

    def _evaluate(self, text: str, deadline: float) -> SparqlResult:
        try:
            answer = self._query(text)
        except SyntaxError as exc:
            raise BadRequest(
                f"the query does not parse: {exc}", code="catalogue.sparql_invalid", pointer="query"
            ) from exc
        except (OSError, RuntimeError, ValueError) as exc:
            raise BadRequest(
                f"the query cannot be evaluated: {exc}",
                code="catalogue.sparql_invalid",
                pointer="query",
            ) from exc
        # pyoxigraph's result iterators belong to this thread: none may reach the caller's
        # thread (not even in an exception's traceback), so they are dropped here.
        try:
            result = self._collect(answer, deadline)
        finally:
            del answer
        if result is None:
            raise self._timeout()
        return result

    def _collect(self, answer: Any, deadline: float) -> SparqlResult | None:
        """Read solutions lazily up to the cap; None when the deadline passes first."""
        if isinstance(answer, ox.QueryBoolean):
            return SparqlResult("ask", boolean=bool(answer))
        if isinstance(answer, ox.QuerySolutions):
            variables = [v.value for v in answer.variables]
            result = SparqlResult("select", variables=variables)
            for solution in answer:
                if self._clock() > deadline:
                    return None
                if len(result.rows) >= self.max_results:
                    result.truncated = True
                    break
                result.rows.append([solution[name] for name in variables])
            return result
        graph = SparqlResult("graph")
        for triple in answer:
            if self._clock() > deadline:
                return None
            if len(graph.triples) >= self.max_results:
                graph.truncated = True
                break
            graph.triples.append(triple)
        return graph

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = [
    "MAX_RESULTS",
    "QUERY_SECONDS",
    "SparqlResult",
    "SparqlRunner",
    "is_update",
    "negotiate",
    "serialise",
]
