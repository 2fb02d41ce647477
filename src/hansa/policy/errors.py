"""Errors raised when a policy is malformed, so that it is refused when it is written.

    ValidationFailed (hansa.errors)
    └── PolicyError                 422, one per parse; ``errors`` lists every problem

Codes (each problem in ``errors`` carries its own code and JSON pointer):

- ``policy.invalid``: the structure is wrong (missing action, bad list, unknown property).
- ``policy.unknown_operator``: an operator that is not an ODRL operator.
- ``policy.unknown_left_operand``: a left operand this evaluator does not know.
- ``policy.unknown_action``: an action that is neither ODRL's nor registered.
- ``policy.type_mismatch``: a right operand or operator that does not fit the left
  operand (``dateTime gt 5``, ``isA`` on a date).
"""

from __future__ import annotations

from dataclasses import dataclass

from hansa.errors import ValidationFailed

INVALID = "policy.invalid"
UNKNOWN_OPERATOR = "policy.unknown_operator"
UNKNOWN_LEFT_OPERAND = "policy.unknown_left_operand"
UNKNOWN_ACTION = "policy.unknown_action"
TYPE_MISMATCH = "policy.type_mismatch"


class PolicyError(ValidationFailed):
    """A policy that cannot be evaluated; ``errors`` names every problem found."""

    default_code = INVALID
    title = "Invalid policy"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a policy, at a JSON pointer into the policy document."""

    code: str
    pointer: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """The entry of a problem+json ``errors`` list."""
        return {"code": self.code, "pointer": self.pointer, "detail": self.detail}


class Problems:
    """Collects every problem of one parse, so that one answer names them all."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, code: str, pointer: str, detail: str) -> None:
        """Record one problem."""
        self.items.append(Problem(code, pointer, detail))

    def raise_if_any(self) -> None:
        """Raise one PolicyError carrying every problem, coded after the first."""
        if not self.items:
            return
        first = self.items[0]
        more = len(self.items) - 1
        detail = first.detail if not more else f"{first.detail} (and {more} more problem(s))"
        raise PolicyError(
            detail,
            code=first.code,
            pointer=first.pointer,
            errors=[p.as_dict() for p in self.items],
        )
