"""A policy in words, one sentence per rule, for the catalogue and the portal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hansa.policy.model import Policy, Rule
from hansa.policy.parse import parse_policy
from hansa.policy.profile import DEFAULT_PROFILE, Profile


def _conditions(rule: Rule) -> str:
    words = [c.words() for c in rule.constraints]
    return f" if {', '.join(words)}" if words else ""


def _parties(rule: Rule) -> str:
    return f" for {', '.join(rule.assignee)}" if rule.assignee else ""


def _duty(duty: Rule) -> str:
    when = f" (when {', '.join(c.words() for c in duty.constraints)})" if duty.constraints else ""
    text = f"the duty to {duty.action}{when}"
    if duty.consequences:
        text += f", or else {', '.join(_duty(c) for c in duty.consequences)}"
    return text


def describe_rule(rule: Rule) -> str:
    """One rule as a sentence: ``use is permitted if purpose is research, at most 10 times``."""
    if rule.kind == "permission":
        text = f"{rule.action} is permitted{_parties(rule)}{_conditions(rule)}"
        if rule.duties:
            text += f", provided {' and '.join(_duty(d) for d in rule.duties)} is fulfilled"
    elif rule.kind == "prohibition":
        text = f"{rule.action} is prohibited{_parties(rule)}{_conditions(rule)}"
        if rule.remedies:
            text += (
                f"; if it happens anyway, {' and '.join(_duty(d) for d in rule.remedies)} applies"
            )
    else:
        when = f" when {', '.join(c.words() for c in rule.constraints)}" if rule.constraints else ""
        text = f"the consumer must {rule.action}{when}"
        if rule.consequences:
            text += f", or else {', '.join(_duty(c) for c in rule.consequences)}"
    return text[0].upper() + text[1:] + "."


def describe_policy(
    policy: Mapping[str, Any] | Policy, profile: Profile = DEFAULT_PROFILE
) -> list[str]:
    """The policy in words, one sentence per rule (PolicyError if the policy is malformed)."""
    if not isinstance(policy, Policy):
        policy = parse_policy(policy, profile)
    lines = [
        describe_rule(r) for r in (*policy.permissions, *policy.prohibitions, *policy.obligations)
    ]
    if policy.conflict == "perm" and policy.prohibitions:
        lines.append("Where a permission and a prohibition both apply, the permission wins.")
    elif policy.conflict == "prohibit" and policy.prohibitions:
        lines.append("Where a permission and a prohibition both apply, the prohibition wins.")
    return lines
