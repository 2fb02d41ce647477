"""The registry of left operands and actions a policy may use.

The built-in operands go through the same registry a deployment extends, so a
deployment that needs, say, DSP's ``partner`` operand registers it and every
other unknown term is still refused:

    profile = DEFAULT_PROFILE.extend(
        operands=[FactOperand("https://example.org/partner", "the partner level")],
        actions={"https://example.org/train": "use"},
    )
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hansa.policy.claims import (
    ClaimOperand,
    ComplianceLevelOperand,
    ConsumerOperand,
    FactOperand,
    MembershipOperand,
)
from hansa.policy.operands import (
    CountOperand,
    DateTimeOperand,
    ElapsedTimeOperand,
    LeftOperand,
    PurposeOperand,
    SpatialOperand,
)
from hansa.policy.vocabulary import (
    HANSA,
    HANSA_CLAIM,
    INCLUDED_IN,
    ODRL,
    ODRL_ACTIONS,
    compact,
    expand,
)


class UnknownTerm(LookupError):
    """A left operand or action the profile does not know; the message says what is known."""


class Profile:
    """Known left operands (by IRI) and actions (with the action each is included in)."""

    def __init__(
        self,
        operands: Iterable[LeftOperand],
        actions: Mapping[str, str | None] | None = None,
    ) -> None:
        self.operands: dict[str, LeftOperand] = {o.iri: o for o in operands}
        self.included_in: dict[str, str] = dict(INCLUDED_IN)
        self.actions: set[str] = set(ODRL_ACTIONS)
        self._add_actions(actions or {})

    def _add_actions(self, actions: Mapping[str, str | None]) -> None:
        for action, broader in actions.items():
            name = self.canonical_action(action)
            self.actions.add(name)
            if broader is not None:
                self.included_in[name] = self.canonical_action(broader)

    def extend(
        self,
        operands: Iterable[LeftOperand] = (),
        actions: Mapping[str, str | None] | None = None,
    ) -> Profile:
        """A new profile with more operands and actions (``actions`` maps action -> broader)."""
        extended = Profile([*self.operands.values(), *operands])
        extended.included_in = dict(self.included_in)
        extended.actions = set(self.actions)
        extended._add_actions(actions or {})
        return extended

    def left_operand(self, term: str) -> LeftOperand:
        """The operand a term names (``purpose``, ``odrl:purpose``, an IRI); UnknownTerm if none."""
        iri = expand(term)
        if iri.startswith(HANSA_CLAIM):
            try:
                return ClaimOperand(iri[len(HANSA_CLAIM) :])
            except ValueError as exc:
                raise UnknownTerm(str(exc)) from None
        if iri in self.operands:
            return self.operands[iri]
        # Bare words of Hansa's profile (``complianceLevel``) are accepted too.
        if iri.startswith(ODRL) and HANSA + iri[len(ODRL) :] in self.operands:
            return self.operands[HANSA + iri[len(ODRL) :]]
        known = ", ".join(sorted(compact(i) for i in self.operands))
        raise UnknownTerm(
            f"unknown left operand {term!r}; this evaluator knows {known} and "
            "hansa:claim#/<JSON pointer into the consumer's verified credentials>"
        )

    @staticmethod
    def canonical_action(term: str) -> str:
        """An action's short canonical name: ``use`` for ODRL, ``prefix:name`` or the IRI else."""
        return compact(expand(term))

    def action(self, term: str) -> str:
        """The canonical name of a known action; UnknownTerm if the action is unknown."""
        name = self.canonical_action(term)
        if name not in self.actions:
            raise UnknownTerm(
                f"unknown action {term!r}; use an ODRL action such as use, read, distribute, "
                "transfer, or register the action in the policy profile"
            )
        return name

    def covers(self, broad: str, narrow: str) -> bool:
        """Whether a rule about ``broad`` speaks about ``narrow`` (``use`` covers ``read``)."""
        current: str | None = narrow
        seen: set[str] = set()
        while current is not None and current not in seen:
            if current == broad:
                return True
            seen.add(current)
            current = self.included_in.get(current)
        return False


DEFAULT_PROFILE = Profile(
    [
        DateTimeOperand(),
        ElapsedTimeOperand(),
        CountOperand(),
        PurposeOperand(),
        SpatialOperand(),
        ConsumerOperand(),
        ComplianceLevelOperand(),
        MembershipOperand(),
    ]
)

__all__ = ["DEFAULT_PROFILE", "FactOperand", "Profile", "UnknownTerm"]
