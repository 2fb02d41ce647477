"""The provider's per-request agreement check, on SQLite and PostgreSQL, with a test clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector import dsp_messages as m
from hansa.connector.agreements import AgreementEnforcer, usage_policy
from hansa.connector.process_models import ContractNegotiationRecord
from hansa.dataplane.usage import Access, SqlUsageLog, access_event
from hansa.db import transaction
from hansa.errors import HansaError

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONSUMER = "did:web:consumer.example"


def _store(
    sessions: sessionmaker[Session], *constraints: dict[str, Any], state: str = "FINALIZED"
) -> str:
    agreement_id = f"urn:uuid:{uuid.uuid4()}"
    agreement = m.agreement(
        agreement_id,
        target="urn:asset:a",
        assigner="did:web:provider.example",
        assignee=CONSUMER,
        timestamp=START,
        permission=[
            m.rule("use", *constraints),
        ],
    )
    # A membership constraint was checked at negotiation time and is not read per request.
    agreement["permission"][0].setdefault("constraint", []).append(
        {"leftOperand": "hansa:membership", "operator": "eq", "rightOperand": "x"}
    )
    with transaction(sessions) as session:
        session.add(
            ContractNegotiationRecord(
                id=f"urn:uuid:{uuid.uuid4()}",
                role="provider",
                state=state,
                counterparty_did=CONSUMER,
                counterparty_pid=f"urn:uuid:{uuid.uuid4()}",
                counterparty_address="https://consumer.example/dsp",
                offer={},
                agreement=agreement,
                agreement_id=agreement_id,
                history=[],
            )
        )
    return agreement_id


def _code(enforcer: AgreementEnforcer, agreement_id: str, **kwargs: str) -> str | None:
    try:
        enforcer.check(
            agreement_id, kwargs.get("consumer", CONSUMER), kwargs.get("asset", "urn:asset:a")
        )
    except HansaError as exc:
        return exc.code
    return None


def test_usage_policy_keeps_only_time_and_count_constraints() -> None:
    agreement = {
        "@id": "urn:a",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "odrl:count", "operator": "lteq", "rightOperand": 3},
                    {"leftOperand": "hansa:membership", "operator": "eq", "rightOperand": "x"},
                ],
                "duty": [{"action": "compensate"}],
            }
        ],
        "obligation": [{"action": "inform"}],
    }
    assert usage_policy(agreement)["permission"] == [
        {
            "action": "use",
            "constraint": [{"leftOperand": "odrl:count", "operator": "lteq", "rightOperand": 3}],
        }
    ]
    assert "obligation" not in usage_policy(agreement)


def test_date_time_and_elapsed_time_limits_expire(sessions: sessionmaker[Session]) -> None:
    now = [START + timedelta(days=1)]
    enforcer = AgreementEnforcer(sessions, clock=lambda: now[0], refresh_seconds=0)
    until = _store(sessions, m.constraint("dateTime", "lt", "2026-11-10T00:00:00Z"))
    elapsed = _store(sessions, m.constraint("elapsedTime", "lteq", "P3D"))
    assert _code(enforcer, until) is None
    assert _code(enforcer, elapsed) is None
    now[0] = START + timedelta(days=5)
    assert _code(enforcer, until) is None
    assert _code(enforcer, elapsed) == "dataplane.agreement_expired"
    now[0] = START + timedelta(days=10)
    assert _code(enforcer, until) == "dataplane.agreement_expired"


def test_count_limit_counts_completed_accesses_only(sessions: sessionmaker[Session]) -> None:
    enforcer = AgreementEnforcer(sessions, clock=lambda: START)
    agreement_id = _store(sessions, m.constraint("count", "lteq", 2))
    log = SqlUsageLog(sessions)

    def access(outcome: str) -> None:
        event = Access("urn:t", agreement_id, CONSUMER, "urn:asset:a", 10, outcome)
        log.record(access_event(event, source="test"))

    access("aborted")  # a broken download resumed later is not a use
    access("completed")
    assert _code(enforcer, agreement_id) is None
    access("completed")
    assert _code(enforcer, agreement_id) == "dataplane.access_limit_reached"


def test_revocation_is_seen_at_once_and_is_idempotent(sessions: sessionmaker[Session]) -> None:
    enforcer = AgreementEnforcer(sessions, clock=lambda: START, refresh_seconds=3600)
    agreement_id = _store(sessions)
    assert _code(enforcer, agreement_id) is None
    assert enforcer.revoke(agreement_id, "contract ended")["revoked"] is True
    assert enforcer.revoke(agreement_id)["revocationReason"] == "contract ended"
    assert _code(enforcer, agreement_id) == "dataplane.agreement_revoked"


def test_a_revocation_by_another_process_is_seen_after_the_refresh(
    sessions: sessionmaker[Session],
) -> None:
    enforcer = AgreementEnforcer(sessions, clock=lambda: START, refresh_seconds=0)
    other = AgreementEnforcer(sessions, clock=lambda: START)
    agreement_id = _store(sessions)
    assert _code(enforcer, agreement_id) is None
    other.revoke(agreement_id)
    assert _code(enforcer, agreement_id) == "dataplane.agreement_revoked"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"consumer": "did:web:someone-else.example"}, "dataplane.token_mismatch"),
        ({"asset": "urn:asset:other"}, "dataplane.token_mismatch"),
    ],
)
def test_the_agreement_is_for_its_consumer_and_asset_only(
    sessions: sessionmaker[Session], kwargs: dict[str, str], code: str
) -> None:
    enforcer = AgreementEnforcer(sessions, clock=lambda: START)
    assert _code(enforcer, _store(sessions), **kwargs) == code


def test_unknown_or_unfinished_agreements_are_not_in_force(
    sessions: sessionmaker[Session],
) -> None:
    enforcer = AgreementEnforcer(sessions, clock=lambda: START)
    assert _code(enforcer, "urn:uuid:none") == "dataplane.agreement_revoked"
    assert _code(enforcer, _store(sessions, state="TERMINATED")) == "dataplane.agreement_revoked"
    with pytest.raises(HansaError) as refused:
        enforcer.finalized(_store(sessions, state="AGREED"), CONSUMER)
    assert refused.value.code == "transfer.agreement_not_finalized"
    with pytest.raises(HansaError) as hidden:
        enforcer.finalized(_store(sessions), "did:web:someone-else.example")
    assert hidden.value.code == "transfer.agreement_not_found"
