"""Parse an ODRL policy (compacted JSON-LD, as DSP writes it) into dataclasses, or refuse it.

Every term is accepted compact (``action``, ``use``), prefixed (``odrl:use``) or as a
full IRI. Nothing is skipped silently: an unknown property, operator, left operand or
action, a right operand of the wrong type, or an ODRL feature this evaluator does not
implement (``inheritFrom``, ``rightOperandReference``, ``unit``, party collections) is
refused with its JSON pointer. Properties of other vocabularies (``dct:title``) are
annotations and are kept out of the way.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from hansa.policy.errors import (
    INVALID,
    TYPE_MISMATCH,
    UNKNOWN_ACTION,
    UNKNOWN_LEFT_OPERAND,
    UNKNOWN_OPERATOR,
    Problems,
)
from hansa.policy.model import AtomicConstraint, Constraint, LogicalConstraint, Policy, Rule
from hansa.policy.operands import as_list
from hansa.policy.profile import DEFAULT_PROFILE, Profile, UnknownTerm
from hansa.policy.values import parse_datetime, unwrap_literal
from hansa.policy.vocabulary import (
    CONFLICT_STRATEGIES,
    LOGICAL_OPERATORS,
    OPERATORS,
    POLICY_TYPES,
    iri_of,
    key_name,
    odrl_name,
)

MAX_DEPTH = 16
POLICY_KEYS = frozenset(
    {"@context", "@id", "@type", "uid", "profile", "target", "assigner", "assignee", "action",
     "permission", "prohibition", "obligation", "conflict", "timestamp"}
)  # fmt: skip
RULE_KEYS = frozenset(
    {"@id", "@type", "uid", "action", "constraint", "target", "assignee", "assigner"}
)
ATOMIC_KEYS = frozenset(
    {"@id", "@type", "uid", "leftOperand", "operator", "rightOperand", "dataType"}
)
EXTRA_RULE_KEYS = {
    "permission": {"duty"},
    "prohibition": {"remedy"},
    "duty": {"consequence"},
    "obligation": {"consequence"},
    "remedy": set(),
    "consequence": set(),
}
RULE_TYPES = {
    "permission": "Permission",
    "prohibition": "Prohibition",
    "duty": "Duty",
    "obligation": "Duty",
    "remedy": "Duty",
    "consequence": "Duty",
}
UNSUPPORTED = {
    "inheritFrom": "policy inheritance (inheritFrom) is not supported; merge the parent policy in",
    "rightOperandReference": (
        "rightOperandReference is not supported; write the value as rightOperand"
    ),
    "unit": "constraints with a unit are not supported; use a left operand whose unit is fixed",
    "status": "status is set by the evaluator, not written in a policy",
    "failure": "failure is not supported; use remedy on a prohibition or consequence on a duty",
    "refinement": "refinement belongs inside the action: {'rdf:value': 'use', 'refinement': [...]}",
    "xor": "the exclusive or is written xone",
}


def pointer_to(base: str, token: str | int) -> str:
    """``base`` extended by one RFC 6901 reference token."""
    return f"{base}/{str(token).replace('~', '~0').replace('/', '~1')}"


def parse_policy(
    document: Mapping[str, Any] | str | bytes, profile: Profile = DEFAULT_PROFILE
) -> Policy:
    """Parse a policy document (a dict, or its JSON text); PolicyError names every problem."""
    problems = Problems()
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as exc:
            problems.add(INVALID, "", f"the policy is not JSON: {exc}")
    if not isinstance(document, Mapping):
        problems.add(INVALID, "", "a policy must be a JSON object")
        problems.raise_if_any()
        raise AssertionError("unreachable")
    policy = _Parser(profile, problems).policy(document)
    problems.raise_if_any()
    assert policy is not None
    return policy


class _Parser:
    def __init__(self, profile: Profile, problems: Problems) -> None:
        self.profile = profile
        self.problems = problems

    def fields(
        self, obj: Mapping[str, Any], pointer: str, allowed: Iterable[str], what: str
    ) -> dict[str, tuple[str, Any]]:
        """The ODRL properties of ``obj`` by name, each with its key as written."""
        allowed = set(allowed)
        found: dict[str, tuple[str, Any]] = {}
        for key, value in obj.items():
            name = key_name(key)
            if name is None:
                continue  # another vocabulary's annotation
            where = pointer_to(pointer, key)
            if name in found:
                self.problems.add(
                    INVALID, where, f"{what} has {name!r} twice ({found[name][0]!r} and {key!r})"
                )
            elif name in allowed:
                found[name] = (key, value)
            elif name in UNSUPPORTED:
                self.problems.add(INVALID, where, UNSUPPORTED[name])
            else:
                close = difflib.get_close_matches(name, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.problems.add(INVALID, where, f"{what} has no property {key!r}{hint}")
        return found

    def iri(self, value: Any, pointer: str, what: str) -> str | None:
        iri = iri_of(value)
        if iri is None or not iri:
            self.problems.add(INVALID, pointer, f"{what} must be an IRI string or {{'@id': ...}}")
        return iri

    def parties(self, value: Any, pointer: str) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        parties: list[str] = []
        for index, item in enumerate(items):
            where = pointer_to(pointer, index) if isinstance(value, list) else pointer
            if isinstance(item, Mapping) and set(item) - {"@id", "@type"}:
                self.problems.add(
                    INVALID,
                    where,
                    "party collections and refined parties are not supported; "
                    "name the party by its IRI or DID",
                )
                continue
            iri = self.iri(item, where, "a party")
            if iri:
                parties.append(iri)
        return tuple(parties)

    def policy(self, doc: Mapping[str, Any]) -> Policy | None:
        f = self.fields(doc, "", POLICY_KEYS, "a policy")
        policy_type = "Set"
        if "@type" in f:
            key, raw = f["@type"]
            names = [
                odrl_name(t)
                for t in (raw if isinstance(raw, list) else [raw])
                if isinstance(t, str)
            ]
            known = [n for n in names if n in POLICY_TYPES]
            if not known:
                self.problems.add(
                    INVALID,
                    pointer_to("", key),
                    f"@type must be one of {', '.join(sorted(POLICY_TYPES))}, not {raw!r}",
                )
            else:
                policy_type = known[0]
        uid = None
        for name in ("@id", "uid"):
            if name in f:
                uid = self.iri(f[name][1], pointer_to("", f[name][0]), "the policy's identifier")
        conflict = "invalid"
        if "conflict" in f:
            key, raw = f["conflict"]
            strategy = odrl_name(iri_of(raw) or "") if iri_of(raw) else None
            if strategy is None or strategy not in CONFLICT_STRATEGIES:
                self.problems.add(
                    INVALID,
                    pointer_to("", key),
                    f"conflict must be perm, prohibit or invalid, not {raw!r}",
                )
            else:
                conflict = strategy
        timestamp = None
        if "timestamp" in f:
            key, raw = f["timestamp"]
            try:
                value = unwrap_literal(raw).value
                if not isinstance(value, str):
                    raise ValueError(f"{value!r} is not an xsd:dateTime")
                timestamp = parse_datetime(value)
            except ValueError as exc:
                self.problems.add(INVALID, pointer_to("", key), f"timestamp: {exc}")
        target = (
            self.iri(f["target"][1], pointer_to("", f["target"][0]), "target")
            if "target" in f
            else None
        )
        assigner = (
            self.iri(f["assigner"][1], pointer_to("", f["assigner"][0]), "assigner")
            if "assigner" in f
            else None
        )
        assignee = (
            self.parties(f["assignee"][1], pointer_to("", f["assignee"][0]))
            if "assignee" in f
            else ()
        )
        profiles: tuple[str, ...] = ()
        if "profile" in f:
            raw = f["profile"][1]
            profiles = tuple(
                p for p in (raw if isinstance(raw, list) else [raw]) if isinstance(p, str)
            )
        inherited = {
            "target": target,
            "assigner": assigner,
            "assignee": assignee,
            "action": f.get("action"),
        }
        rules: dict[str, tuple[Rule, ...]] = {}
        for kind in ("permission", "prohibition", "obligation"):
            rules[kind] = self.rules(f[kind], "", kind, inherited, 0) if kind in f else ()
        if not any(rules.values()):
            self.problems.add(
                INVALID, "", "a policy needs at least one permission, prohibition or obligation"
            )
        return Policy(
            uid=uid,
            type=policy_type,
            permissions=rules["permission"],
            prohibitions=rules["prohibition"],
            obligations=rules["obligation"],
            conflict=conflict,
            target=target,
            assigner=assigner,
            assignee=assignee,
            timestamp=timestamp,
            profile=profiles,
            source=doc,
        )

    def rules(
        self, entry: tuple[str, Any], base: str, kind: str, inherited: Mapping[str, Any], depth: int
    ) -> tuple[Rule, ...]:
        key, raw = entry
        items = raw if isinstance(raw, list) else [raw]
        rules = []
        for index, item in enumerate(items):
            pointer = (
                pointer_to(pointer_to(base, key), index)
                if isinstance(raw, list)
                else pointer_to(base, key)
            )
            rule = self.rule(item, pointer, kind, inherited, depth)
            if rule is not None:
                rules.append(rule)
        return tuple(rules)

    def rule(
        self, raw: Any, pointer: str, kind: str, inherited: Mapping[str, Any], depth: int
    ) -> Rule | None:
        if isinstance(raw, str):
            raw = {"action": raw}
        if not isinstance(raw, Mapping):
            self.problems.add(INVALID, pointer, f"a {kind} must be an object")
            return None
        f = self.fields(raw, pointer, RULE_KEYS | EXTRA_RULE_KEYS[kind], f"a {kind}")
        if "@type" in f:
            written = f["@type"][1]
            if not isinstance(written, str) or odrl_name(written) != RULE_TYPES[kind]:
                self.problems.add(
                    INVALID,
                    pointer_to(pointer, f["@type"][0]),
                    f"a {kind} has @type {RULE_TYPES[kind]}, not {written!r}",
                )
        uid = None
        for name in ("@id", "uid"):
            if name in f:
                uid = self.iri(
                    f[name][1], pointer_to(pointer, f[name][0]), f"the {kind}'s identifier"
                )
        action_entry = f.get("action") or (
            inherited.get("action") if kind in ("permission", "prohibition") else None
        )
        constraints: list[Constraint] = []
        action = ""
        if action_entry is None:
            self.problems.add(INVALID, pointer_to(pointer, "action"), f"a {kind} needs an action")
        else:
            action_pointer = (
                pointer_to(pointer, action_entry[0]) if "action" in f else "/" + action_entry[0]
            )
            action = self.action(action_entry[1], action_pointer, constraints)
        if "constraint" in f:
            constraints.extend(self.constraints(f["constraint"], pointer, 0))
        target = inherited.get("target")
        if "target" in f:
            target = self.iri(f["target"][1], pointer_to(pointer, f["target"][0]), "target")
        assignee = inherited.get("assignee", ())
        if "assignee" in f:
            assignee = self.parties(f["assignee"][1], pointer_to(pointer, f["assignee"][0]))
        assigner = inherited.get("assigner")
        if "assigner" in f:
            assigner = self.iri(f["assigner"][1], pointer_to(pointer, f["assigner"][0]), "assigner")
        # Duties name their own parties; they do not inherit the policy's action.
        nested = {"target": target, "assigner": assigner, "assignee": assignee, "action": None}
        sub: dict[str, tuple[Rule, ...]] = {}
        for name in ("duty", "remedy", "consequence"):
            sub[name] = self.rules(f[name], pointer, name, nested, depth + 1) if name in f else ()
        return Rule(
            kind=kind,
            pointer=pointer,
            uid=uid,
            action=action,
            constraints=tuple(constraints),
            target=target,
            assignee=tuple(assignee or ()),
            assigner=assigner,
            duties=sub["duty"],
            remedies=sub["remedy"],
            consequences=sub["consequence"],
        )

    def action(self, raw: Any, pointer: str, constraints: list[Constraint]) -> str:
        name: Any = raw
        if isinstance(raw, Mapping):
            f = self.fields(raw, pointer, {"@id", "@type", "value", "refinement"}, "an action")
            value_key = next(
                (
                    k
                    for k in raw
                    if k in ("rdf:value", "http://www.w3.org/1999/02/22-rdf-syntax-ns#value")
                ),
                None,
            )
            if value_key is not None:
                name = iri_of(raw[value_key])
            elif "value" in f:
                name = iri_of(f["value"][1])
            else:
                name = iri_of(raw)
            if "refinement" in f:
                constraints.extend(self.constraints(f["refinement"], pointer, 0))
        if not isinstance(name, str) or not name:
            self.problems.add(
                INVALID,
                pointer,
                "an action must be a name such as 'use' or "
                "{'rdf:value': 'use', 'refinement': [...]}",
            )
            return ""
        try:
            return self.profile.action(name)
        except UnknownTerm as exc:
            self.problems.add(UNKNOWN_ACTION, pointer, str(exc))
            return ""

    def constraints(self, entry: tuple[str, Any], base: str, depth: int) -> list[Constraint]:
        key, raw = entry
        items = as_list(raw)
        is_list = isinstance(raw, list) or (
            isinstance(raw, Mapping) and ("@list" in raw or "@set" in raw)
        )
        found = []
        for index, item in enumerate(items):
            pointer = pointer_to(pointer_to(base, key), index) if is_list else pointer_to(base, key)
            parsed = self.constraint(item, pointer, depth)
            if parsed is not None:
                found.append(parsed)
        return found

    def constraint(self, raw: Any, pointer: str, depth: int) -> Constraint | None:
        if not isinstance(raw, Mapping):
            self.problems.add(
                INVALID,
                pointer,
                "a constraint must be an object with leftOperand, operator and "
                "rightOperand, or one of and, or, xone, andSequence",
            )
            return None
        if depth > MAX_DEPTH:
            self.problems.add(
                INVALID, pointer, f"constraints are nested more than {MAX_DEPTH} deep"
            )
            return None
        logical = [k for k in raw if key_name(k) in LOGICAL_OPERATORS]
        if logical:
            f = self.fields(
                raw, pointer, {"@id", "@type", "uid", *LOGICAL_OPERATORS}, "a logical constraint"
            )
            if len(logical) > 1:
                self.problems.add(
                    INVALID,
                    pointer,
                    "a logical constraint has exactly one of and, or, xone, andSequence",
                )
                return None
            key = logical[0]
            name = key_name(key)
            assert name is not None
            children = self.constraints((key, raw[key]), pointer, depth + 1)
            if not as_list(raw[key]):
                self.problems.add(
                    INVALID, pointer_to(pointer, key), f"{name} needs at least one constraint"
                )
            return LogicalConstraint(pointer, name, tuple(children))
        f = self.fields(raw, pointer, ATOMIC_KEYS, "a constraint")
        for required in ("leftOperand", "operator", "rightOperand"):
            if required not in f:
                self.problems.add(
                    INVALID, pointer_to(pointer, required), f"a constraint needs {required}"
                )
        if any(r not in f for r in ("leftOperand", "operator", "rightOperand")):
            return None
        left_key, left_raw = f["leftOperand"]
        op_key, op_raw = f["operator"]
        right_key, right_raw = f["rightOperand"]
        left_name = iri_of(left_raw)
        try:
            if not left_name:
                raise UnknownTerm(f"a left operand is a name or IRI, not {left_raw!r}")
            operand = self.profile.left_operand(left_name)
        except UnknownTerm as exc:
            self.problems.add(UNKNOWN_LEFT_OPERAND, pointer_to(pointer, left_key), str(exc))
            return None
        op_name = odrl_name(iri_of(op_raw) or "") if iri_of(op_raw) else None
        if op_name not in OPERATORS:
            self.problems.add(
                UNKNOWN_OPERATOR,
                pointer_to(pointer, op_key),
                f"unknown operator {op_raw!r}; ODRL's operators are {', '.join(sorted(OPERATORS))}",
            )
            return None
        if op_name not in operand.operators:
            self.problems.add(
                TYPE_MISMATCH,
                pointer_to(pointer, op_key),
                f"{op_name} does not apply to {operand.name}; "
                f"it takes {', '.join(sorted(operand.operators))}",
            )
            return None
        if "dataType" in f and not isinstance(right_raw, Mapping | list):
            datatype = iri_of(f["dataType"][1])
            right_raw = {"@value": right_raw, "@type": datatype}
        try:
            right = operand.parse_right(op_name, right_raw)
        except ValueError as exc:
            self.problems.add(
                TYPE_MISMATCH, pointer_to(pointer, right_key), f"{operand.name} {op_name}: {exc}"
            )
            return None
        return AtomicConstraint(pointer, operand, op_name, right, f["rightOperand"][1])
