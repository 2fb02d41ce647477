"""``POST /policies/evaluate``: a dry run of a policy against a request, with every reason.

Nothing is stored and nothing is enforced: a provider checks what its policy would
decide for a given consumer and moment before it offers it. A malformed policy is
refused (422, every problem with its JSON pointer), like when it is stored; a denied
request is a normal answer (200, ``allowed: false``) with the reason for each rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from hansa.policy import (
    Consumer,
    EvaluationContext,
    EvaluationRequest,
    describe_policy,
    evaluate,
    parse_policy,
)
from hansa.web import AdminAuth, json_depth

router = APIRouter(tags=["policy"])


class _Strict(BaseModel):
    # Python names in snake_case, JSON names (and error pointers) in camelCase.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)


class ConsumerModel(_Strict):
    did: str | None = None
    compliance_level: str | None = Field(None, description="SC, L1, L2 or L3")
    memberships: list[str] = Field(default_factory=list)
    credentials: list[dict[str, Any]] = Field(
        default_factory=list, description="verified credentials as JSON (hansa:claim operands)"
    )


class ContextModel(_Strict):
    now: AwareDatetime | None = Field(None, description="defaults to the server's clock")
    purpose: str | None = None
    spatial: str | None = None
    count: int | None = Field(None, description="uses made so far under the agreement")
    agreement_start: AwareDatetime | None = None
    purpose_hierarchy: dict[str, list[str]] = Field(default_factory=dict)
    fulfilled_duties: list[str] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)


class EvaluatePolicyRequest(_Strict):
    policy: dict[str, Any]
    action: str = "use"
    target: str | None = None
    consumer: ConsumerModel = Field(default_factory=ConsumerModel)
    context: ContextModel = Field(default_factory=ContextModel)


def evaluation_request(body: EvaluatePolicyRequest) -> EvaluationRequest:
    """The policy package's request from the API body (``policy.request_invalid`` if wrong)."""
    consumer = Consumer(
        did=body.consumer.did,
        compliance_level=body.consumer.compliance_level,
        memberships=frozenset(body.consumer.memberships),
        credentials=tuple(body.consumer.credentials),
    )
    ctx = body.context
    context = EvaluationContext(
        now=ctx.now or datetime.now(UTC),
        purpose=ctx.purpose,
        spatial=ctx.spatial,
        count=ctx.count,
        agreement_start=ctx.agreement_start,
        purpose_hierarchy=ctx.purpose_hierarchy,
        fulfilled_duties=frozenset(ctx.fulfilled_duties),
        facts=ctx.facts,
    )
    return EvaluationRequest(
        action=body.action, consumer=consumer, context=context, target=body.target
    )


@router.post(
    "/policies/evaluate",
    dependencies=[AdminAuth],
    summary="Dry-run a policy: would this request be allowed, and why",
)
def evaluate_policy(request: Request, body: EvaluatePolicyRequest) -> dict[str, Any]:
    limit = request.app.state.settings.api.max_json_depth
    json_depth(body.policy, limit)
    json_depth(body.consumer.credentials, limit)
    policy = parse_policy(body.policy)
    decision = evaluate(policy, evaluation_request(body))
    return {
        **decision.to_dict(),
        "explanation": decision.explain(),
        "policyDescription": describe_policy(policy),
    }
