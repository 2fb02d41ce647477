"""ODRL 2.2 usage policies with the DSP profile: parse, evaluate, describe.

    policy = parse_policy(offer_json)                 # PolicyError if malformed
    decision = evaluate(policy, EvaluationRequest(...))
    decision.allowed, decision.reason, decision.explain()
    describe_policy(policy)                           # sentences for people

Pure functions over plain data; no I/O. See ``evaluator`` for the decision rules,
``operands`` and ``claims`` for every left operand and how its values are written.
"""

from __future__ import annotations

from hansa.policy.claims import FactOperand
from hansa.policy.describe import describe_policy, describe_rule
from hansa.policy.errors import PolicyError, Problem
from hansa.policy.evaluator import evaluate
from hansa.policy.model import AtomicConstraint, Constraint, LogicalConstraint, Policy, Rule
from hansa.policy.operands import LeftOperand
from hansa.policy.parse import parse_policy
from hansa.policy.profile import DEFAULT_PROFILE, Profile
from hansa.policy.request import COMPLIANCE_LEVELS, Consumer, EvaluationContext, EvaluationRequest
from hansa.policy.results import (
    ConstraintResult,
    Decision,
    Outcome,
    RuleResult,
    RuleStatus,
)

__all__ = [
    "COMPLIANCE_LEVELS",
    "DEFAULT_PROFILE",
    "AtomicConstraint",
    "Constraint",
    "ConstraintResult",
    "Consumer",
    "Decision",
    "EvaluationContext",
    "EvaluationRequest",
    "FactOperand",
    "LeftOperand",
    "LogicalConstraint",
    "Outcome",
    "Policy",
    "PolicyError",
    "Problem",
    "Profile",
    "Rule",
    "RuleResult",
    "RuleStatus",
    "describe_policy",
    "describe_rule",
    "evaluate",
    "parse_policy",
]
