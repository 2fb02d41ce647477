"""The 67 mandatory scenarios of the DSP Technology Compatibility Kit, as typed data.

``tck-scenarios.json`` (beside this file) is the scenario list of the Eclipse Dataspace
TCK (``eclipse-dataspacetck/dsp-tck``, Apache-2.0): each test's id, class, method and
its sequence diagram. The kit itself is Java and cannot run here, so Hansa replays the
sequences itself: first against the pure state machines (``test_tck_catalogue.py``),
later over HTTP against a running node. For that second use every step is data:
who sends which message, what answer is expected, and on which endpoint of the
HTTPS binding the receiver takes it (``endpoint_for``).

The diagrams are normalised (``ALIASES``: the TCK's names for a few messages) and a
few upstream defects corrected (``CORRECTIONS``, each checked against the TCK source
and noted on the scenario).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hansa.connector import dsp_messages as m
from hansa.connector.negotiation_states import Party

TCK_SCENARIOS_FILE = Path(__file__).with_name("tck-scenarios.json")

Actor = Literal["TCK", "CUT"]
Area = Literal[
    "metadata",
    "catalog",
    "negotiation-provider",
    "negotiation-consumer",
    "transfer-provider",
    "transfer-consumer",
]
AREAS: tuple[Area, ...] = (
    "metadata",
    "catalog",
    "negotiation-provider",
    "negotiation-consumer",
    "transfer-provider",
    "transfer-consumer",
)
_AREA_BY_PREFIX: Mapping[str, Area] = {
    "MET": "metadata",
    "CAT": "catalog",
    "CN": "negotiation-provider",
    "CN_C": "negotiation-consumer",
    "TP": "transfer-provider",
    "TP_C": "transfer-consumer",
}

SIGNAL = "Signal"  # the TCK asks the connector under test, out of band, to start
ACK = "200 OK"
ERROR = "4xx ERROR"

# The TCK's diagram names -> the DSP 2025-1 names Hansa uses.
ALIASES: Mapping[str, str] = {
    "ContractVerificationMessage": "ContractAgreementVerificationMessage",
    "CatalogDatasetMessage": "DatasetRequestMessage",
    "TransferRequest": "TransferProcess",  # as a response: the process object
    "MetadataResponse": "VersionResponse",
    "Signal to start negotiation": SIGNAL,
    "Signal to start transfer": SIGNAL,
}

_LINE = re.compile(r"^(?P<sender>\w+)(?P<arrow>-->>|->>)(?P<receiver>\w+):\s*(?P<what>.+)$")


@dataclass(frozen=True)
class Exchange:
    """One message and the answer to it, e.g. TCK sends ContractRequestMessage, gets 201.

    ``message`` is a DSP ``@type`` (events as ``ContractNegotiationEventMessage:ACCEPTED``),
    ``MetadataRequest``, ``DatasetRequestMessage`` or ``Signal``; ``response`` is ``ACK``,
    ``ERROR`` or the type of the answer body (``ContractNegotiation``), None for signals.
    """

    sender: Actor
    message: str
    response: str | None

    @property
    def receiver(self) -> Actor:
        return "CUT" if self.sender == "TCK" else "TCK"

    @property
    def expects_error(self) -> bool:
        return self.response == ERROR

    @property
    def is_signal(self) -> bool:
        return self.message == SIGNAL


@dataclass(frozen=True)
class Scenario:
    """One mandatory TCK test: what Hansa plays and the exchanges, in order."""

    id: str
    name: str
    group: str
    area: Area
    hansa_role: Party
    test_class: str
    method: str
    tag: str
    exchanges: tuple[Exchange, ...]
    corrections: tuple[str, ...] = field(default=())

    @property
    def counterparty_role(self) -> Party:
        return "consumer" if self.hansa_role == "provider" else "provider"

    @property
    def expects_error(self) -> bool:
        return any(exchange.expects_error for exchange in self.exchanges)

    def party(self, actor: Actor) -> Party:
        """The protocol role an actor plays in this scenario."""
        return self.hansa_role if actor == "CUT" else self.counterparty_role

    @property
    def protocol_exchanges(self) -> tuple[Exchange, ...]:
        """The exchanges that carry a protocol message (signals left out)."""
        return tuple(exchange for exchange in self.exchanges if not exchange.is_signal)


def _normalise(what: str) -> str:
    what = ALIASES.get(what.strip(), what.strip())
    name, colon, event = what.partition(":")
    return f"{name}:{event.upper()}" if colon else name


def _parse_lines(lines: list[str]) -> list[tuple[Actor, bool, str]]:
    """(sender, is_response, what) for each arrow line; TCk typos fixed."""
    steps: list[tuple[Actor, bool, str]] = []
    for line in lines:
        if line.startswith("participant"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise ValueError(f"unreadable TCK sequence line: {line!r}")
        sender = match["sender"].upper()
        if sender not in ("TCK", "CUT"):
            raise ValueError(f"unknown actor in {line!r}")
        steps.append((sender, match["arrow"] == "-->>", _normalise(match["what"])))  # type: ignore[arg-type]
    return steps


def _pair(scenario_id: str, steps: list[tuple[Actor, bool, str]]) -> tuple[Exchange, ...]:
    exchanges: list[Exchange] = []
    index = 0
    while index < len(steps):
        sender, is_response, what = steps[index]
        if is_response:
            raise ValueError(f"{scenario_id}: answer {what!r} without a message")
        if what == SIGNAL:
            exchanges.append(Exchange(sender, what, None))
            index += 1
            continue
        if index + 1 >= len(steps) or not steps[index + 1][1]:
            raise ValueError(f"{scenario_id}: {what!r} has no answer")
        responder, _, answer = steps[index + 1]
        if responder == sender:
            raise ValueError(f"{scenario_id}: {sender} answers its own {what!r}")
        exchanges.append(Exchange(sender, what, answer))
        index += 2
    return tuple(exchanges)


def _drop_termination_after_finalized(lines: list[str]) -> list[str]:
    # The diagram ends "CUT->>TCK: ...:finalized / CUT->>TCK: ...Termination /
    # TCK-->>CUT: 200 OK"; the test method (cn_01_03) ends when FINALIZED is acked.
    assert lines[-2:] == ["CUT->>TCK: ContractNegotiationTerminationMessage", "TCK-->>CUT: 200 OK"]
    return [*lines[:-2], "TCK-->>CUT: 200 OK"]


def _dataset_not_found_is_an_error(lines: list[str]) -> list[str]:
    # The diagram says the answer is a Dataset; the test asserts a CatalogError.
    assert lines[-1] == "CUT-->>TCK: Dataset"
    return [*lines[:-1], "CUT-->>TCK: 4xx ERROR"]


CORRECTIONS: Mapping[str, tuple[str, Callable[[list[str]], list[str]]]] = {
    "CN:01-03": (
        "the diagram sends a termination after FINALIZED; the TCK test stops at FINALIZED",
        _drop_termination_after_finalized,
    ),
    "CAT:01-03": (
        "the diagram answers a Dataset; the TCK test expects a CatalogError",
        _dataset_not_found_is_an_error,
    ),
}


def _role_of_cut(lines: list[str]) -> Party:
    for line in lines:
        if line.startswith("participant CUT"):
            return "consumer" if "(consumer)" in line else "provider"
    raise ValueError("no CUT participant line")


def scenario_from_json(entry: Mapping[str, Any]) -> Scenario:
    """One scenario from its entry in ``tck-scenarios.json``."""
    scenario_id = str(entry["id"])
    lines = [str(line) for line in entry["sequence"]]
    corrections: tuple[str, ...] = ()
    if scenario_id in CORRECTIONS:
        note, correct = CORRECTIONS[scenario_id]
        lines = correct(lines)
        corrections = (note,)
    prefix = scenario_id.split(":")[0]
    return Scenario(
        id=scenario_id,
        name=str(entry["name"]),
        group=str(entry["group"]),
        area=_AREA_BY_PREFIX[prefix],
        hansa_role=_role_of_cut(lines),
        test_class=str(entry["class"]),
        method=str(entry["method"]),
        tag=str(entry["tag"]),
        exchanges=_pair(scenario_id, _parse_lines(lines)),
        corrections=corrections,
    )


def load_catalogue(path: Path = TCK_SCENARIOS_FILE) -> tuple[Scenario, ...]:
    """Every scenario, in the file's order."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return tuple(scenario_from_json(entry) for entry in entries)


# --- the spec's state machine figures ----------------------------------------------


def figure_transitions(puml: str) -> set[tuple[str | None, str, str]]:
    """(from, message kind, sender) for each arrow of a DSP state machine figure."""
    kinds = {
        name: label.split(">")[-1]
        .strip()
        .replace(":accepted", ":ACCEPTED")
        .replace(":finalized", ":FINALIZED")
        for name, label in re.findall(r"^state (\w+)\s*[^:]*:\s*(.+)$", puml, re.MULTILINE)
    }
    found = set()
    for source, target, parties in re.findall(
        r"^(\[\*\]|\w+)\s*-+>\s*(\w+):\s*([CP/]+)$", puml, re.MULTILINE
    ):
        for party in parties.split("/"):
            sender = "consumer" if party == "C" else "provider"
            found.add((None if source == "[*]" else source, kinds[target], sender))
    return found


# --- the HTTPS binding, for the over-HTTP replay -----------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where the receiver takes a message: method and path below its DSP base (or
    below the callback address, for a consumer)."""

    method: Literal["GET", "POST"]
    path: str

    def format(self, **pids: str) -> str:
        """The path with ``{providerPid}`` / ``{consumerPid}`` / ``{id}`` filled in."""
        return self.path.format(**pids)


_PROVIDER_ENDPOINTS: Mapping[str, str] = {
    "ContractRequestMessage": "/negotiations/{providerPid}/request",
    "ContractNegotiationEventMessage:ACCEPTED": "/negotiations/{providerPid}/events",
    "ContractAgreementVerificationMessage": "/negotiations/{providerPid}/agreement/verification",
    "ContractNegotiationTerminationMessage": "/negotiations/{providerPid}/termination",
    "TransferStartMessage": "/transfers/{providerPid}/start",
    "TransferCompletionMessage": "/transfers/{providerPid}/completion",
    "TransferSuspensionMessage": "/transfers/{providerPid}/suspension",
    "TransferTerminationMessage": "/transfers/{providerPid}/termination",
}
_CONSUMER_ENDPOINTS: Mapping[str, str] = {
    "ContractOfferMessage": "/negotiations/{consumerPid}/offers",
    "ContractAgreementMessage": "/negotiations/{consumerPid}/agreement",
    "ContractNegotiationEventMessage:FINALIZED": "/negotiations/{consumerPid}/events",
    "ContractNegotiationTerminationMessage": "/negotiations/{consumerPid}/termination",
    "TransferStartMessage": "/transfers/{consumerPid}/start",
    "TransferCompletionMessage": "/transfers/{consumerPid}/completion",
    "TransferSuspensionMessage": "/transfers/{consumerPid}/suspension",
    "TransferTerminationMessage": "/transfers/{consumerPid}/termination",
}
_INITIAL_ENDPOINTS: Mapping[str, Endpoint] = {
    "ContractRequestMessage": Endpoint("POST", "/negotiations/request"),
    "ContractOfferMessage": Endpoint("POST", "/negotiations/offers"),
    "TransferRequestMessage": Endpoint("POST", "/transfers/request"),
    "CatalogRequestMessage": Endpoint("POST", "/catalog/request"),
    "DatasetRequestMessage": Endpoint("GET", "/catalog/datasets/{id}"),
    "MetadataRequest": Endpoint("GET", "/.well-known/dspace-version"),
}


def endpoint_for(message: str, receiver: Party, *, initial: bool) -> Endpoint:
    """The endpoint of the HTTPS binding at which ``receiver`` takes ``message``.

    Raises KeyError when the receiver never takes that message (the state machine
    refuses it anyway; an over-HTTP replay then posts to the sender-independent path).
    """
    if initial or message in ("CatalogRequestMessage", "DatasetRequestMessage", "MetadataRequest"):
        return _INITIAL_ENDPOINTS[message]
    table = _PROVIDER_ENDPOINTS if receiver == "provider" else _CONSUMER_ENDPOINTS
    return Endpoint("POST", table[message])


# --- message bodies -------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    """The identifiers a replay uses to fill in messages."""

    provider_pid: str = "urn:uuid:tck-provider-pid"
    consumer_pid: str = "urn:uuid:tck-consumer-pid"
    dataset_id: str = "urn:uuid:tck-dataset"
    offer_id: str = "urn:uuid:tck-offer"
    agreement_id: str = "urn:uuid:tck-agreement"
    callback: str = "https://tck.example/callback"
    provider: str = "did:web:provider.example"
    consumer: str = "did:web:consumer.example"

    def with_pids(self, provider_pid: str, consumer_pid: str) -> Ids:
        return replace(self, provider_pid=provider_pid, consumer_pid=consumer_pid)


def build_message(message: str, ids: Ids, *, initial: bool) -> dict[str, Any]:
    """A schema-valid body for ``message`` with ``ids`` (the exchange's request)."""
    pids = {"provider_pid": ids.provider_pid, "consumer_pid": ids.consumer_pid}
    the_offer = m.offer(ids.offer_id, permission=[m.rule("use")], target=ids.dataset_id)
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "CatalogRequestMessage": lambda: m.catalog_request_message(),
        "DatasetRequestMessage": lambda: m.dataset_request_message(ids.dataset_id),
        "ContractRequestMessage": lambda: m.contract_request_message(
            consumer_pid=ids.consumer_pid,
            offer=the_offer,
            **(
                {"callback_address": ids.callback}
                if initial
                else {"provider_pid": ids.provider_pid}
            ),
        ),
        "ContractOfferMessage": lambda: m.contract_offer_message(
            provider_pid=ids.provider_pid,
            offer=the_offer,
            **(
                {"callback_address": ids.callback}
                if initial
                else {"consumer_pid": ids.consumer_pid}
            ),
        ),
        "ContractAgreementMessage": lambda: m.contract_agreement_message(
            **pids,
            agreement=m.agreement(
                ids.agreement_id,
                target=ids.dataset_id,
                assigner=ids.provider,
                assignee=ids.consumer,
                timestamp=datetime.now(UTC),
                permission=[m.rule("use")],
            ),
        ),
        "ContractAgreementVerificationMessage": lambda: m.contract_agreement_verification_message(
            **pids
        ),
        "ContractNegotiationEventMessage:ACCEPTED": lambda: m.contract_negotiation_event_message(
            **pids, event_type="ACCEPTED"
        ),
        "ContractNegotiationEventMessage:FINALIZED": lambda: m.contract_negotiation_event_message(
            **pids, event_type="FINALIZED"
        ),
        "ContractNegotiationTerminationMessage": lambda: m.contract_negotiation_termination_message(
            **pids, reason="TCK scenario"
        ),
        "TransferRequestMessage": lambda: m.transfer_request_message(
            consumer_pid=ids.consumer_pid,
            agreement_id=ids.agreement_id,
            format="HttpData-PULL",
            callback_address=ids.callback,
        ),
        "TransferStartMessage": lambda: m.transfer_start_message(
            provider_pid=ids.provider_pid, consumer_pid=ids.consumer_pid
        ),
        "TransferSuspensionMessage": lambda: m.transfer_suspension_message(**pids),
        "TransferCompletionMessage": lambda: m.transfer_completion_message(**pids),
        "TransferTerminationMessage": lambda: m.transfer_termination_message(**pids),
    }
    return builders[message]()
