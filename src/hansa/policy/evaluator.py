"""Evaluate an ODRL policy against a request: ``evaluate(policy, request) -> Decision``.

The rules, in the order they are applied:

1. A rule applies to the request when its action covers the requested action (a
   permission or prohibition of ``use`` speaks about ``read``), its target is the
   requested target (when both are given) and its assignee is the consumer (when
   the rule names one).
2. Every constraint of a rule must be satisfied (the constraints of one rule are
   joined by "and"). Logical constraints: ``and`` all, ``or`` at least one, ``xone``
   exactly one, ``andSequence`` all, in order, stopping at the first that is not met.
   A missing fact makes a constraint ``undetermined``; undetermined parts fail closed.
3. A permission grants when its constraints are satisfied and every duty in force
   (a duty is in force when its own constraints are satisfied) is fulfilled, i.e.
   named by ``@id`` or action in the context's ``fulfilled_duties``.
4. A prohibition forbids when its constraints are satisfied, and also when they
   cannot be determined, so a prohibition cannot be escaped by leaving a fact out.
5. Obligations (policy-level duties) in force and not fulfilled deny the request.
6. Conflicts between a granting permission and a forbidding prohibition follow the
   policy's ``conflict``: ``perm`` allows, ``prohibit`` denies, ``invalid`` (ODRL's
   default) voids the policy, which denies.
7. Any error (a type mismatch found only now, a malformed request) denies, and a
   malformed policy yields a Decision carrying its parse problems.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hansa.policy.errors import UNKNOWN_ACTION, PolicyError
from hansa.policy.model import AtomicConstraint, Constraint, LogicalConstraint, Policy, Rule
from hansa.policy.parse import parse_policy
from hansa.policy.profile import DEFAULT_PROFILE, Profile, UnknownTerm
from hansa.policy.request import EvaluationRequest
from hansa.policy.results import ConstraintResult, Decision, Outcome, RuleResult, RuleStatus

S, V, U, E, N = (
    Outcome.SATISFIED,
    Outcome.VIOLATED,
    Outcome.UNDETERMINED,
    Outcome.ERROR,
    Outcome.NOT_EVALUATED,
)


def evaluate(
    policy: Mapping[str, Any] | Policy,
    request: EvaluationRequest,
    profile: Profile = DEFAULT_PROFILE,
) -> Decision:
    """Decide whether the request is allowed under the policy, with a reason for everything."""
    if not isinstance(policy, Policy):
        try:
            policy = parse_policy(policy, profile)
        except PolicyError as exc:
            return Decision(
                allowed=False,
                reason=f"the policy cannot be evaluated: {exc.detail}",
                errors=tuple(exc.errors or ()),
            )
    try:
        action = profile.action(request.action)
    except UnknownTerm as exc:
        problem = {"code": UNKNOWN_ACTION, "pointer": "/action", "detail": str(exc)}
        return Decision(False, f"the request cannot be evaluated: {exc}", errors=(problem,))
    if request.context.agreement_start is None and policy.timestamp is not None:
        context = dataclasses.replace(request.context, agreement_start=policy.timestamp)
        request = dataclasses.replace(request, context=context)
    return _Evaluation(policy, request, action, profile).decide()


_LEAD = {
    S: "satisfied",
    V: "not met",
    U: "cannot be decided",
    E: "cannot be evaluated",
    N: "not evaluated",
}


def _combine(operator: str, outcomes: list[Outcome]) -> Outcome:
    """Three-valued logic for logical constraints; errors dominate."""
    if E in outcomes:
        return E
    if operator in ("and", "andSequence"):
        if V in outcomes:
            return V
        return U if U in outcomes else S
    if operator == "or":
        if S in outcomes:
            return S
        return U if U in outcomes else V
    # xone: exactly one satisfied; an undetermined part may tip it either way.
    if U in outcomes:
        return U
    return S if outcomes.count(S) == 1 else V


class _Evaluation:
    def __init__(self, policy: Policy, request: EvaluationRequest, action: str, profile: Profile):
        self.policy = policy
        self.request = request
        self.action = action
        self.profile = profile

    # -- constraints -------------------------------------------------------------
    def constraint(self, constraint: Constraint) -> ConstraintResult:
        if isinstance(constraint, AtomicConstraint):
            return self.atomic(constraint)
        return self.logical(constraint)

    def atomic(self, c: AtomicConstraint) -> ConstraintResult:
        expected = c.left_operand.as_json(c.right_operand)
        try:
            check = c.left_operand.check(c.operator, c.right_operand, self.request)
        except (ValueError, TypeError, ArithmeticError) as exc:  # a comparison the types refused
            return ConstraintResult(
                c.pointer,
                c.words(),
                E,
                f"cannot compare: {exc}",
                None,
                expected,
                "policy.type_mismatch",
            )
        lead = _LEAD[check.outcome]
        return ConstraintResult(
            c.pointer,
            c.words(),
            check.outcome,
            f"{lead}: {check.detail}",
            check.actual,
            expected,
            check.code,
        )

    def logical(self, c: LogicalConstraint) -> ConstraintResult:
        children: list[ConstraintResult] = []
        stopped = False
        for child in c.constraints:
            if stopped:
                children.append(
                    self.skipped(
                        child, "not evaluated: an earlier constraint in the sequence was not met"
                    )
                )
                continue
            result = self.constraint(child)
            children.append(result)
            if c.operator == "andSequence" and result.outcome is not S:
                stopped = True
        outcome = _combine(c.operator, [r.outcome for r in children if r.outcome is not N])
        met = sum(r.outcome is S for r in children)
        summary = {
            "and": f"{met} of {len(children)} constraints met; all are needed",
            "andSequence": f"{met} of {len(children)} constraints met in order; all are needed",
            "or": f"{met} of {len(children)} constraints met; at least one is needed",
            "xone": f"{met} of {len(children)} constraints met; exactly one is needed",
        }[c.operator]
        reason = f"{_LEAD[outcome]}: {summary}"
        return ConstraintResult(c.pointer, c.words(), outcome, reason, children=tuple(children))

    def skipped(self, c: Constraint, why: str) -> ConstraintResult:
        children = (
            ()
            if isinstance(c, AtomicConstraint)
            else tuple(self.skipped(x, why) for x in c.constraints)
        )
        return ConstraintResult(c.pointer, c.words(), N, why, children=children)

    def all_of(
        self, constraints: tuple[Constraint, ...]
    ) -> tuple[Outcome, tuple[ConstraintResult, ...]]:
        results = tuple(self.constraint(c) for c in constraints)
        return _combine("and", [r.outcome for r in results]), results

    # -- rules --------------------------------------------------------------------
    def not_applicable(self, rule: Rule) -> str | None:
        """Why a rule does not speak about this request, or None if it does."""
        if not self.profile.covers(rule.action, self.action):
            return f"about {rule.action}, which does not include {self.action}"
        target = self.request.target
        if target is not None and rule.target is not None and rule.target != target:
            return f"about the target {rule.target}, not {target}"
        did = self.request.consumer.did
        if rule.assignee and did is not None and did not in rule.assignee:
            return f"for {', '.join(rule.assignee)}, not for {did}"
        return None

    def duty(self, duty: Rule) -> RuleResult:
        outcome, results = self.all_of(duty.constraints)
        words = f"the duty to {duty.action}"
        if outcome is E:
            return RuleResult(
                duty.kind,
                duty.pointer,
                duty.action,
                RuleStatus.ERROR,
                f"{words} cannot be evaluated",
                results,
            )
        if outcome is V:
            return RuleResult(
                duty.kind,
                duty.pointer,
                duty.action,
                RuleStatus.NOT_IN_FORCE,
                f"{words} is not in force: its constraints are not met",
                results,
            )
        done = self.request.context.fulfilled_duties
        if duty.action in done or (duty.uid is not None and duty.uid in done):
            return RuleResult(
                duty.kind,
                duty.pointer,
                duty.action,
                RuleStatus.FULFILLED,
                f"{words} is fulfilled",
                results,
            )
        if outcome is U:
            return RuleResult(
                duty.kind,
                duty.pointer,
                duty.action,
                RuleStatus.UNDETERMINED,
                f"{words} may be in force (a fact is missing) and is not fulfilled",
                results,
            )
        consequences = tuple(self.duty(c) for c in duty.consequences)
        then = (
            "; its consequences now apply: " + ", ".join(c.action for c in duty.consequences)
            if consequences
            else ""
        )
        return RuleResult(
            duty.kind,
            duty.pointer,
            duty.action,
            RuleStatus.OUTSTANDING,
            f"{words} is in force and not fulfilled{then}",
            results,
            consequences,
        )

    def permission(self, rule: Rule) -> RuleResult:
        why_not = self.not_applicable(rule)
        if why_not:
            skipped = tuple(
                self.skipped(c, "not evaluated: the rule does not apply") for c in rule.constraints
            )
            return RuleResult(
                rule.kind,
                rule.pointer,
                rule.action,
                RuleStatus.NOT_APPLICABLE,
                f"this permission is {why_not}",
                skipped,
            )
        outcome, results = self.all_of(rule.constraints)
        duties = tuple(self.duty(d) for d in rule.duties)
        if outcome is E or any(d.status is RuleStatus.ERROR for d in duties):
            status, reason = (
                RuleStatus.ERROR,
                "this permission cannot be evaluated; see the errors below",
            )
        elif outcome is V:
            status, reason = (
                RuleStatus.NOT_GRANTED,
                "this permission does not grant: a constraint is not met",
            )
        elif outcome is U:
            status, reason = (
                RuleStatus.UNDETERMINED,
                "this permission does not grant: the request lacks a fact it needs",
            )
        elif any(d.status in (RuleStatus.OUTSTANDING, RuleStatus.UNDETERMINED) for d in duties):
            open_duties = [
                d.action
                for d in duties
                if d.status in (RuleStatus.OUTSTANDING, RuleStatus.UNDETERMINED)
            ]
            status, reason = (
                RuleStatus.NOT_GRANTED,
                "this permission does not grant until its duties are fulfilled: "
                + ", ".join(open_duties),
            )
        else:
            status, reason = RuleStatus.GRANTS, f"this permission grants {self.action}"
        return RuleResult(rule.kind, rule.pointer, rule.action, status, reason, results, duties)

    def prohibition(self, rule: Rule) -> RuleResult:
        why_not = self.not_applicable(rule)
        if why_not:
            skipped = tuple(
                self.skipped(c, "not evaluated: the rule does not apply") for c in rule.constraints
            )
            return RuleResult(
                rule.kind,
                rule.pointer,
                rule.action,
                RuleStatus.NOT_APPLICABLE,
                f"this prohibition is {why_not}",
                skipped,
            )
        outcome, results = self.all_of(rule.constraints)
        remedies = ", ".join(r.action for r in rule.remedies)
        remedy = f"; remedy: {remedies}" if remedies else ""
        if outcome is E:
            return RuleResult(
                rule.kind,
                rule.pointer,
                rule.action,
                RuleStatus.ERROR,
                "this prohibition cannot be evaluated; see the errors below",
                results,
            )
        if outcome is V:
            return RuleResult(
                rule.kind,
                rule.pointer,
                rule.action,
                RuleStatus.NOT_PROHIBITING,
                "this prohibition does not apply: its constraints are not met",
                results,
            )
        if outcome is U:
            return RuleResult(
                rule.kind,
                rule.pointer,
                rule.action,
                RuleStatus.PROHIBITS,
                "this prohibition is taken to apply, because the request lacks a fact "
                f"needed to rule it out{remedy}",
                results,
            )
        return RuleResult(
            rule.kind,
            rule.pointer,
            rule.action,
            RuleStatus.PROHIBITS,
            f"this prohibition forbids {self.action}{remedy}",
            results,
        )

    # -- the decision -------------------------------------------------------------
    def decide(self) -> Decision:
        permissions = [self.permission(r) for r in self.policy.permissions]
        prohibitions = [self.prohibition(r) for r in self.policy.prohibitions]
        obligations = [self.duty(r) for r in self.policy.obligations]
        rules = (*permissions, *prohibitions, *obligations)

        if any(_has_error(r) for r in rules):
            return Decision(
                False,
                "denied because part of the policy cannot be evaluated: " + _first(E, rules),
                rules,
            )
        granting = [r for r in permissions if r.status is RuleStatus.GRANTS]
        forbidding = [r for r in prohibitions if r.status is RuleStatus.PROHIBITS]
        outstanding = [
            r for r in obligations if r.status in (RuleStatus.OUTSTANDING, RuleStatus.UNDETERMINED)
        ]
        if not granting:
            applicable = [r for r in permissions if r.status is not RuleStatus.NOT_APPLICABLE]
            why = f"no permission grants {self.action}"
            undetermined = [r for r in permissions if r.status is RuleStatus.UNDETERMINED]
            if not applicable:
                why += f" (none is about {self.action})"
            elif undetermined:
                why += "; the request lacks a fact: " + _first(U, undetermined)
            return Decision(False, why, rules)
        if forbidding:
            where = ", ".join(r.pointer for r in forbidding)
            if self.policy.conflict == "prohibit":
                return Decision(
                    False,
                    f"a permission grants {self.action}, but the prohibition at {where} "
                    "overrides it (conflict strategy: prohibit)",
                    rules,
                )
            if self.policy.conflict == "invalid":
                return Decision(
                    False,
                    f"the policy is void: a permission grants {self.action} while the "
                    f"prohibition at {where} forbids it (conflict strategy: invalid, "
                    "ODRL's default)",
                    rules,
                )
        if outstanding:
            return Decision(
                False,
                "obligations are in force and not fulfilled: "
                + ", ".join(r.action for r in outstanding),
                rules,
            )
        overridden = (
            f"; the prohibition at {', '.join(r.pointer for r in forbidding)} "
            "is overridden (conflict strategy: perm)"
            if forbidding
            else ""
        )
        return Decision(
            True, f"the permission at {granting[0].pointer} grants {self.action}{overridden}", rules
        )


def _has_error(rule: RuleResult) -> bool:
    return rule.status is RuleStatus.ERROR or any(_has_error(d) for d in rule.duties)


def _first(outcome: Outcome, rules: tuple[RuleResult, ...] | list[RuleResult]) -> str:
    """The first atomic constraint with this outcome, in words, for the decision's reason."""

    def walk(results: tuple[ConstraintResult, ...]) -> ConstraintResult | None:
        for result in results:
            if result.outcome is outcome and not result.children:
                return result
            found = walk(result.children)
            if found:
                return found
        return None

    for rule in rules:
        for found in (walk(rule.constraints), *(walk(d.constraints) for d in rule.duties)):
            if found:
                return f"{found.text} at {found.pointer}: {found.reason}"
    return "see the rules"
