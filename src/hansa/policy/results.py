"""What an evaluation says: one Decision, with a result for every rule and every constraint."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """How one constraint, duty or rule came out.

    ``undetermined`` means a fact the constraint needs is missing from the request
    (no purpose given, no agreement start); ``error`` means the policy itself cannot
    be evaluated (a type mismatch, an unknown term). Both fail closed: a permission
    that is not ``satisfied`` grants nothing, a prohibition that is not ``violated``
    still forbids, and any ``error`` denies the whole request.
    """

    SATISFIED = "satisfied"
    VIOLATED = "violated"
    UNDETERMINED = "undetermined"
    ERROR = "error"
    NOT_EVALUATED = "not_evaluated"


@dataclass(frozen=True)
class Check:
    """What a left operand found: the outcome, the value seen, and why, in words."""

    outcome: Outcome
    actual: Any
    detail: str
    code: str | None = None


@dataclass(frozen=True)
class ConstraintResult:
    """The result of one constraint (atomic or logical) at ``pointer`` in the policy."""

    pointer: str
    text: str
    outcome: Outcome
    reason: str
    actual: Any = None
    expected: Any = None
    code: str | None = None
    children: tuple[ConstraintResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for an API answer."""
        out: dict[str, Any] = {
            "pointer": self.pointer,
            "constraint": self.text,
            "outcome": self.outcome.value,
            "reason": self.reason,
        }
        if self.actual is not None:
            out["actual"] = self.actual
        if self.expected is not None:
            out["expected"] = self.expected
        if self.code:
            out["code"] = self.code
        if self.children:
            out["constraints"] = [c.to_dict() for c in self.children]
        return out


class RuleStatus(StrEnum):
    """What a rule does to the request."""

    GRANTS = "grants"  # a permission that allows the request
    NOT_GRANTED = "not_granted"  # a permission whose conditions are not met
    PROHIBITS = "prohibits"  # a prohibition that forbids the request
    NOT_PROHIBITING = "not_prohibiting"  # a prohibition whose conditions are not met
    OUTSTANDING = "outstanding"  # a duty in force that is not fulfilled
    FULFILLED = "fulfilled"  # a duty done
    NOT_IN_FORCE = "not_in_force"  # a duty whose constraints are not met
    NOT_APPLICABLE = "not_applicable"  # about another action, target or party
    UNDETERMINED = "undetermined"
    ERROR = "error"


@dataclass(frozen=True)
class RuleResult:
    """The result of one permission, prohibition, duty or obligation."""

    kind: str  # permission, prohibition, duty, obligation, remedy, consequence
    pointer: str
    action: str
    status: RuleStatus
    reason: str
    constraints: tuple[ConstraintResult, ...] = ()
    duties: tuple[RuleResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for an API answer."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "pointer": self.pointer,
            "action": self.action,
            "status": self.status.value,
            "reason": self.reason,
        }
        if self.constraints:
            out["constraints"] = [c.to_dict() for c in self.constraints]
        if self.duties:
            out["duties"] = [d.to_dict() for d in self.duties]
        return out


@dataclass(frozen=True)
class Decision:
    """Whether the request is allowed, why, and the result of every rule.

    ``errors`` holds problems that kept the policy from being evaluated at all
    (a malformed policy), each with a code and a JSON pointer.
    """

    allowed: bool
    reason: str
    rules: tuple[RuleResult, ...] = ()
    errors: tuple[dict[str, str], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for an API answer."""
        out: dict[str, Any] = {
            "allowed": self.allowed,
            "reason": self.reason,
            "rules": [r.to_dict() for r in self.rules],
        }
        if self.errors:
            out["errors"] = list(self.errors)
        return out

    def explain(self) -> list[str]:
        """The decision as indented lines a person can read."""
        lines = [("ALLOWED: " if self.allowed else "DENIED: ") + self.reason]
        lines.extend(f"  error at {e['pointer']}: {e['detail']}" for e in self.errors)

        def constraint_lines(result: ConstraintResult, depth: int) -> None:
            lines.append(f"{'  ' * depth}- {result.text}: {result.reason}")
            for child in result.children:
                constraint_lines(child, depth + 1)

        def rule_lines(rule: RuleResult, depth: int) -> None:
            lines.append(f"{'  ' * depth}{rule.kind} {rule.action} ({rule.pointer}): {rule.reason}")
            for constraint in rule.constraints:
                constraint_lines(constraint, depth + 1)
            for duty in rule.duties:
                rule_lines(duty, depth + 1)

        for rule in self.rules:
            rule_lines(rule, 1)
        return lines
