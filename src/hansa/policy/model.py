"""An ODRL 2.2 policy as plain dataclasses, each part remembering where it was in the JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hansa.policy.operands import LeftOperand


@dataclass(frozen=True)
class AtomicConstraint:
    """``leftOperand operator rightOperand``, with the right operand already typed."""

    pointer: str
    left_operand: LeftOperand
    operator: str
    right_operand: Any
    written: Any  # the right operand as the policy wrote it

    def words(self) -> str:
        """The constraint as a phrase a person reads."""
        return self.left_operand.words(self.operator, self.right_operand)


@dataclass(frozen=True)
class LogicalConstraint:
    """``and``, ``or``, ``xone`` or ``andSequence`` over other constraints."""

    pointer: str
    operator: str
    constraints: tuple[Constraint, ...]

    def words(self) -> str:
        """The constraint as a phrase a person reads."""
        parts = [c.words() for c in self.constraints]
        if self.operator == "and":
            return "(" + " and ".join(parts) + ")"
        if self.operator == "or":
            return "(either " + " or ".join(parts) + ")"
        if self.operator == "xone":
            return "(exactly one of: " + "; ".join(parts) + ")"
        return "(" + ", then ".join(parts) + ", in this order)"


Constraint = AtomicConstraint | LogicalConstraint


@dataclass(frozen=True)
class Rule:
    """A permission, prohibition or duty.

    ``constraints`` holds the rule's constraints and its action's refinements; all
    must be satisfied. ``duties`` are a permission's pre-conditions; ``remedies`` a
    prohibition's duties on violation; ``consequences`` a duty's duties when it is
    not fulfilled.
    """

    kind: str  # permission, prohibition, duty, obligation, remedy, consequence
    pointer: str
    uid: str | None
    action: str
    constraints: tuple[Constraint, ...] = ()
    target: str | None = None
    assignee: tuple[str, ...] = ()
    assigner: str | None = None
    duties: tuple[Rule, ...] = ()
    remedies: tuple[Rule, ...] = ()
    consequences: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Policy:
    """An ODRL policy (Offer, Agreement, Set, ...).

    ``conflict`` is ODRL's conflict strategy: ``perm`` (permissions override),
    ``prohibit`` (prohibitions override) or ``invalid`` (the default in ODRL 2.2:
    a conflict voids the policy).
    """

    uid: str | None
    type: str
    permissions: tuple[Rule, ...]
    prohibitions: tuple[Rule, ...]
    obligations: tuple[Rule, ...]
    conflict: str = "invalid"
    target: str | None = None
    assigner: str | None = None
    assignee: tuple[str, ...] = ()
    timestamp: datetime | None = None
    profile: tuple[str, ...] = ()
    source: Mapping[str, Any] | None = None
