"""ODRL 2.2 terms as DSP writes them: compact (``use``), prefixed (``odrl:use``) or full IRIs.

Policies arrive as compacted JSON-LD with the DSP context, in which ODRL's terms are
bare words. Everything here turns each of the three spellings into one canonical
full IRI, and back into a short name for people.

The action hierarchy follows ODRL's ``includedIn``: every common action is included
in ``use`` except ``give`` and ``sell``, which are included in ``transfer``; ``display``,
``play``, ``print`` and ``textToSpeech`` are included in ``present``. A permission
for an action covers every action included in it; a prohibition of an action
forbids every action included in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ODRL = "http://www.w3.org/ns/odrl/2/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# Hansa's own ODRL profile: the left operands about the consumer's verified claims.
HANSA = "https://hansa.dev/odrl/"
HANSA_CLAIM = HANSA + "claim#"

PREFIXES: Mapping[str, str] = {"odrl": ODRL, "xsd": XSD, "rdf": RDF, "hansa": HANSA}

# The operators ODRL defines for atomic constraints, and the logical ones.
OPERATORS = frozenset(
    {
        "eq",
        "neq",
        "gt",
        "gteq",
        "lt",
        "lteq",
        "isA",
        "isPartOf",
        "hasPart",
        "isAllOf",
        "isAnyOf",
        "isNoneOf",
    }
)
LOGICAL_OPERATORS = ("and", "or", "xone", "andSequence")
ORDERING = frozenset({"eq", "neq", "gt", "gteq", "lt", "lteq"})
SET_OPERATORS = frozenset({"isAllOf", "isAnyOf", "isNoneOf"})

CONFLICT_STRATEGIES = frozenset({"perm", "prohibit", "invalid"})
POLICY_TYPES = frozenset(
    {"Policy", "Set", "Offer", "Agreement", "Request", "Ticket", "Privacy", "Assertion"}
)

# action -> the broader action it is included in (ODRL 2.2 vocabulary, odrl:includedIn).
INCLUDED_IN: Mapping[str, str] = {
    **{
        name: "use"
        for name in (
            "acceptTracking",
            "aggregate",
            "annotate",
            "anonymize",
            "archive",
            "attribute",
            "compensate",
            "concurrentUse",
            "delete",
            "derive",
            "digitize",
            "distribute",
            "ensureExclusivity",
            "execute",
            "extract",
            "grantUse",
            "include",
            "index",
            "inform",
            "install",
            "modify",
            "move",
            "nextPolicy",
            "obtainConsent",
            "present",
            "read",
            "reproduce",
            "reviewPolicy",
            "stream",
            "transform",
            "translate",
            "uninstall",
            "watermark",
        )
    },
    "display": "present",
    "play": "present",
    "print": "present",
    "textToSpeech": "present",
    "give": "transfer",
    "sell": "transfer",
}
ODRL_ACTIONS = frozenset({"use", "transfer", *INCLUDED_IN})


def expand(term: str) -> str:
    """A term in any of its spellings as a full IRI; bare words are ODRL terms."""
    if term.startswith(("http://", "https://", "urn:", "did:")):
        return term
    prefix, sep, rest = term.partition(":")
    if sep and prefix in PREFIXES:
        return PREFIXES[prefix] + rest
    if sep:
        return term  # some other prefix or scheme: kept as written
    return ODRL + term


def compact(iri: str) -> str:
    """The short name of an IRI for people: ``use``, ``hansa:complianceLevel``."""
    if iri.startswith(ODRL):
        return iri[len(ODRL) :]
    for prefix, namespace in PREFIXES.items():
        if prefix != "odrl" and iri.startswith(namespace):
            return f"{prefix}:{iri[len(namespace) :]}"
    return iri


def odrl_name(term: str) -> str | None:
    """The local name of an ODRL term in any spelling, or None if it is not ODRL's."""
    iri = expand(term)
    return iri[len(ODRL) :] if iri.startswith(ODRL) else None


def key_name(key: str) -> str | None:
    """A JSON key as its ODRL/JSON-LD name (``odrl:action`` -> ``action``).

    Returns None for keys of other vocabularies (``dct:title``), which are
    annotations that do not change what a policy means.
    """
    if key.startswith("@"):
        return key
    name = odrl_name(key)
    if name is not None:
        return name
    return None


def iri_of(value: Any) -> str | None:
    """The IRI of a JSON-LD node reference or string, or None if it is neither."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("@id"), str):
        return str(value["@id"])
    return None


def action_ancestors(action: str) -> list[str]:
    """The action and every action it is included in, narrowest first."""
    chain = [action]
    seen = {action}
    current = action
    while current in INCLUDED_IN:
        current = INCLUDED_IN[current]
        if current in seen:
            break
        chain.append(current)
        seen.add(current)
    return chain


def action_covers(broad: str, narrow: str) -> bool:
    """Whether a rule about ``broad`` also speaks about ``narrow`` (``use`` covers ``read``)."""
    return broad in action_ancestors(narrow)
