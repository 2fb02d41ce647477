"""What a failed compliance check reports: one entry per violation, a person can act on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hansa.errors import Conflict


@dataclass(frozen=True)
class Violation:
    """One broken rule in one credential of a submission."""

    credential: str
    """The credential's id (or ``#<index>`` in the presentation when it has none)."""
    path: str
    """JSON pointer of the offending field inside that credential (never a blank node)."""
    rule: str
    """Stable rule id, e.g. ``gx:LegalPersonShape/gx:legalAddress`` or ``rule.tandc_hash``."""
    message: str
    """The rule in words."""
    fix: str
    """What to change so that the rule holds."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ComplianceFailed(Conflict):
    """409: the submission breaks rules; ``errors`` lists every violation."""

    title = "Compliance check failed"
    default_code = "compliance.violations"

    def __init__(self, violations: list[Violation], detail: str | None = None) -> None:
        super().__init__(
            detail
            or f"{len(violations)} rule(s) not met; see errors for each credential, field and fix",
            errors=[v.to_json() for v in violations],
        )
        self.violations = violations
