"""What a negotiation agrees on, as pure functions: offer terms, agreements, claims to ask for.

- :func:`offer_terms` is what two offers must share to be "the same offer": the rules and
  profile, not the ids or the parties (an offer in a catalog has no ``target``; in a
  contract request it has one).
- :func:`agreement_for` turns the agreed offer into the ODRL ``Agreement`` the provider sends.
- :func:`scopes_for_policy` names the DCP scopes a provider must read from the consumer's
  credential service to evaluate a policy: the compliance label for
  ``hansa:complianceLevel``, memberships for ``hansa:membership``, both for
  ``hansa:claim#...`` (which reads any verified credential).
- :func:`consumer_from_credentials` turns the verified credentials into the ``Consumer`` the
  policy evaluator reads: the best ``gx:labelLevel`` of a ``gx:LabelCredential`` and the
  ``memberOf`` values of ``MembershipCredential``s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hansa.connector.dsp_messages import xsd_datetime
from hansa.policy import COMPLIANCE_LEVELS, Consumer, Policy
from hansa.policy.model import AtomicConstraint, Constraint, Rule
from hansa.policy.vocabulary import HANSA, HANSA_CLAIM

LABEL_TYPE = "gx:LabelCredential"
MEMBERSHIP_TYPE = "MembershipCredential"
LABEL_SCOPE = f"org.eclipse.dspace.dcp.vc.type:{LABEL_TYPE}:read"
MEMBERSHIP_SCOPE = f"org.eclipse.dspace.dcp.vc.type:{MEMBERSHIP_TYPE}:read"
_NOT_TERMS = frozenset({"@context", "@id", "@type", "uid", "target", "assigner", "assignee"})
_AGREEMENT_ONLY = frozenset({"timestamp"})


def offer_terms(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The rules of an offer or agreement, without ids, target, parties and timestamp."""
    return {k: v for k, v in policy.items() if k not in _NOT_TERMS | _AGREEMENT_ONLY}


def same_terms(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two offers (or an offer and an agreement) grant and forbid the same."""
    return offer_terms(a) == offer_terms(b)


def agreement_for(
    offer: Mapping[str, Any],
    *,
    agreement_id: str,
    target: str,
    provider_did: str,
    consumer_did: str,
    timestamp: datetime,
) -> dict[str, Any]:
    """The ``Agreement`` granting the offer's terms on ``target`` to the consumer."""
    return {
        "@id": agreement_id,
        "@type": "Agreement",
        **offer_terms(offer),
        "target": target,
        "assigner": provider_did,
        "assignee": consumer_did,
        "timestamp": xsd_datetime(timestamp),
    }


def _constraints(rules: Iterable[Rule]) -> Iterable[AtomicConstraint]:
    def walk(constraint: Constraint) -> Iterable[AtomicConstraint]:
        if isinstance(constraint, AtomicConstraint):
            yield constraint
        else:
            for inner in constraint.constraints:
                yield from walk(inner)

    for rule in rules:
        for constraint in rule.constraints:
            yield from walk(constraint)
        yield from _constraints((*rule.duties, *rule.remedies, *rule.consequences))


def scopes_for_policy(policy: Policy) -> list[str]:
    """The DCP scopes whose credentials the policy's constraints read (sorted, no repeats)."""
    scopes: set[str] = set()
    rules = (*policy.permissions, *policy.prohibitions, *policy.obligations)
    for constraint in _constraints(rules):
        iri = constraint.left_operand.iri
        if iri == HANSA + "complianceLevel":
            scopes.add(LABEL_SCOPE)
        elif iri == HANSA + "membership":
            scopes.add(MEMBERSHIP_SCOPE)
        elif iri.startswith(HANSA_CLAIM):
            scopes.update((LABEL_SCOPE, MEMBERSHIP_SCOPE))
    return sorted(scopes)


def _types(credential: Mapping[str, Any]) -> list[str]:
    types = credential.get("type")
    return [t for t in (types if isinstance(types, list) else [types]) if isinstance(t, str)]


def _subjects(credential: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    subject = credential.get("credentialSubject")
    items = subject if isinstance(subject, list) else [subject]
    return [s for s in items if isinstance(s, Mapping)]


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("@id", item.get("id"))
        if isinstance(item, str) and item:
            out.append(item)
    return out


def consumer_from_credentials(did: str, credentials: Sequence[Mapping[str, Any]]) -> Consumer:
    """The consumer as its verified credentials describe it (label, memberships, claims)."""
    level: str | None = None
    memberships: set[str] = set()
    for credential in credentials:
        types = _types(credential)
        for subject in _subjects(credential):
            if LABEL_TYPE in types or "LabelCredential" in types:
                for value in _strings(subject.get("gx:labelLevel", subject.get("labelLevel"))):
                    if value in COMPLIANCE_LEVELS and (
                        level is None
                        or COMPLIANCE_LEVELS.index(value) > COMPLIANCE_LEVELS.index(level)
                    ):
                        level = value
            if MEMBERSHIP_TYPE in types:
                memberships.update(_strings(subject.get("memberOf")))
    return Consumer(
        did=did,
        compliance_level=level,
        memberships=frozenset(memberships),
        credentials=tuple(credentials),
    )


__all__ = [
    "LABEL_SCOPE",
    "LABEL_TYPE",
    "MEMBERSHIP_SCOPE",
    "MEMBERSHIP_TYPE",
    "agreement_for",
    "consumer_from_credentials",
    "offer_terms",
    "same_terms",
    "scopes_for_policy",
]
