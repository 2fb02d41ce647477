"""The compliance service: checks a participant's presentation and issues a Gaia-X label.

A check runs, in order, and stops at the first stage that fails:

1. size and shape of the input (``compliance.too_large``, ``compliance.too_deep``,
   ``compliance.too_many_credentials``, ``compliance.empty_presentation``);
2. every signature, each key in its signer's DID document, each key's X.509 chain to a
   trusted root CA (the identity verifier's own codes: ``vp.*``, ``vc.*``, ``jose.*``,
   ``did.*``, ``trust.*``);
3. duplicated or conflicting credentials (``compliance.duplicate_credential``,
   ``compliance.conflicting_credentials``);
4. every type known to the installed shapes (``compliance.unknown_type``, 409 listing each);
5. the shapes, the rules across credentials, and the criteria of the requested level,
   all reported together (``compliance.violations``, 409 listing each).

On success :meth:`ComplianceService.issue_label` signs a ``gx:LabelCredential`` through the
issue function it was given (the node's identity: status entry, vc+jwt, node's key).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hansa import __version__
from hansa.compliance.criteria import LEVELS, Criterion, Level, check_criteria
from hansa.compliance.registry import Registry, ShapesInfo
from hansa.compliance.rules import (
    BUILTIN_RULES,
    GX,
    RULES_VERSION,
    Rule,
    RuleContext,
    Submission,
    Submitted,
    check_rules,
    compact,
    types_of,
)
from hansa.compliance.violations import ComplianceFailed, Violation
from hansa.errors import BadRequest, ConfigurationError, Conflict, NotFound, PayloadTooLarge
from hansa.identity.validity import format_datetime, parse_datetime
from hansa.identity.vc_jose import CREDENTIALS_V2
from hansa.identity.verifier import PresentationCheck

LABEL_VALIDITY = timedelta(days=90)
OFFERS: dict[str, Level] = {
    "standard-compliance": "SC",
    "label-level-1": "L1",
    "label-level-2": "L2",
    "label-level-3": "L3",
}
_BASE_TYPES = frozenset({"VerifiableCredential", "VerifiablePresentation"})
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S{1,2040}")


class PresentationVerifier(Protocol):
    """What the service needs of :class:`hansa.identity.verifier.CredentialVerifier`."""

    def verify_presentation(
        self,
        vp: dict[str, Any] | str,
        *,
        challenge: str | None = None,
        domain: str | None = None,
        trusted_issuer: bool = False,
        x509: bool = False,
        now: datetime | None = None,
    ) -> PresentationCheck: ...


class ShapeChecker(Protocol):
    """What the service needs of :class:`hansa.compliance.shapes.ShapeValidator`."""

    def validate(self, credentials: Sequence[tuple[str, dict[str, Any]]]) -> list[Violation]: ...

    def known_types(self) -> list[str]: ...


@dataclass(frozen=True)
class ComplianceLimits:
    max_bytes: int = 1_048_576
    """Largest presentation accepted (the compact vp+jwt, or the JSON-LD serialised)."""
    max_credentials: int = 64
    max_depth: int = 32
    """Deepest nesting of JSON objects and arrays inside any credential."""


@dataclass(frozen=True)
class ComplianceResult:
    """A submission that passed every check at ``level``."""

    level: Level
    holder: str
    credentials: tuple[Submitted, ...]
    criteria: tuple[Criterion, ...]
    rules_version: str
    valid_until: datetime | None = None
    """The earliest ``validUntil`` among the submitted credentials, if any has one."""

    def compliant_credentials(self) -> list[dict[str, Any]]:
        """``gx:CompliantCredential`` entries: each checked credential with its digest."""
        return [
            {
                "type": "gx:CompliantCredential",
                "id": c.id,
                "gx:credentialType": ",".join(sorted(t for t in c.types if t.startswith("gx:"))),
                "digestSRI": c.digest,
            }
            for c in self.credentials
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "holder": self.holder,
            "rulesVersion": self.rules_version,
            "validatedCriteria": [c.url for c in self.criteria],
            "compliantCredentials": self.compliant_credentials(),
        }


@dataclass(frozen=True)
class IssuedLabel:
    token: str
    """The ``gx:LabelCredential`` as a ``vc+jwt``."""
    credential: dict[str, Any]
    result: ComplianceResult = field(repr=False)


def parse_level(value: str) -> Level:
    """``SC``/``L1``..``L3``, or the Gaia-X offer name (``label-level-2``)."""
    level = OFFERS.get(value, value)
    if level not in LEVELS:
        raise NotFound(
            f"no compliance level {value!r}; use one of {', '.join(OFFERS)}",
            code="compliance.unknown_level",
            pointer="level",
        )
    return level


def _depth(value: Any, limit: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise BadRequest(
                f"a credential is nested deeper than {limit} levels",
                code="compliance.too_deep",
            )
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_duplicates(credentials: Sequence[Submitted]) -> None:
    seen_ids: dict[str, int] = {}
    seen_digests: dict[str, int] = {}
    subjects: dict[tuple[str, str], tuple[int, str]] = {}
    for credential in credentials:
        pointer = f"/verifiableCredential/{credential.index}"
        first = seen_digests.get(credential.digest, seen_ids.get(credential.id))
        if first is not None:
            raise Conflict(
                f"credential {credential.index} repeats credential {first} ({credential.id}); "
                "send each credential once",
                code="compliance.duplicate_credential",
                pointer=pointer,
            )
        seen_ids[credential.id] = seen_digests[credential.digest] = credential.index
        for _, subject in credential.subjects():
            subject_id = subject.get("id")
            if not isinstance(subject_id, str):
                continue
            body = _canonical(subject)
            for type_name in types_of(subject):
                other = subjects.setdefault((subject_id, type_name), (credential.index, body))
                if other[1] != body:
                    raise Conflict(
                        f"credentials {other[0]} and {credential.index} describe {subject_id} "
                        f"as {type_name} differently; send one description",
                        code="compliance.conflicting_credentials",
                        pointer=pointer,
                    )


def _earliest_expiry(credentials: Sequence[Submitted]) -> datetime | None:
    ends = [
        parse_datetime(c.credential["validUntil"], "/validUntil")
        for c in credentials
        if isinstance(c.credential.get("validUntil"), str)
    ]
    return min(ends) if ends else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ComplianceService:
    """Checks presentations against signatures, shapes, rules and criteria; issues labels."""

    def __init__(
        self,
        *,
        verifier: PresentationVerifier,
        shapes: ShapeChecker,
        registry: Registry,
        issue: Callable[[dict[str, Any]], dict[str, Any]],
        clock: Callable[[], datetime] = _utcnow,
        rules: Sequence[Rule] = BUILTIN_RULES,
        limits: ComplianceLimits | None = None,
        engine_version: str = __version__,
        compile_shapes: Callable[[str], ShapeChecker] | None = None,
        on_issued: Callable[[IssuedLabel], None] | None = None,
    ) -> None:
        self._verifier = verifier
        self._on_issued = on_issued
        """Called with every label issued (the clearing house's catalogue publishes it)."""
        self._shapes = shapes
        self.registry = registry
        self._issue = issue
        self._clock = clock
        self._rules = tuple(rules)
        self.limits = limits or ComplianceLimits()
        self.engine_version = f"hansa-{engine_version}"
        self._known: frozenset[str] | None = None
        # With a compiler, shapes installed in the registry replace the given ones: the
        # newest installed graph now, and each one installed through this service later.
        self._compile = compile_shapes
        newest = registry.newest_shapes() if compile_shapes is not None else None
        if compile_shapes is not None and newest is not None:
            self._shapes = compile_shapes(newest)

    def install_shapes(self, name: str, version: str, turtle: str) -> ShapesInfo:
        """Record a shapes graph in the registry and, given a compiler, check with it now.

        It is compiled first: a graph the checker cannot use is refused before it is stored.
        Other processes of the clearing house pick it up when they start.
        """
        checker = self._compile(turtle) if self._compile is not None else None
        info = self.registry.install_shapes(name, version, turtle)
        if checker is not None:
            self._shapes = checker
            self._known = None
        return info

    def known_types(self) -> list[str]:
        """Every credential type the installed shapes can check (``gx:`` form)."""
        if self._known is None:
            self._known = frozenset(compact(t) for t in self._shapes.known_types())
        return sorted(self._known)

    # --- checking ---------------------------------------------------------------------------

    def check(self, presentation: str | dict[str, Any], level: str) -> ComplianceResult:
        """Run every check on ``presentation`` for ``level``; raise on the first failed stage."""
        wanted = parse_level(level)
        self._check_size(presentation)
        now = self._clock()
        try:
            verified = self._verifier.verify_presentation(presentation, x509=True, now=now)
        except RecursionError as exc:
            raise BadRequest(
                "the presentation is nested too deeply to read", code="compliance.too_deep"
            ) from exc
        submission = self._submission(verified)
        self._check_types(submission)
        terms, known_terms = self.registry.terms_snapshot()
        if terms is None:
            raise ConfigurationError(
                "this clearing house has no current terms and conditions; an administrator "
                "must add them (POST /registry/terms-and-conditions)",
                code="compliance.no_terms",
            )
        context = RuleContext(
            submission=submission,
            terms_hash=terms.sha256,
            terms_version=terms.version,
            known_terms=known_terms,
            is_notary=lambda did: self.registry.is_trusted("notary", did),
            is_assessment_body=lambda did: self.registry.is_trusted(
                "conformity_assessment_body", did
            ),
        )
        try:
            violations = list(
                self._shapes.validate([(c.id, c.credential) for c in submission.credentials])
            )
        except ValueError as exc:
            # RDF conversion refuses what JSON allows (an id that is no IRI): the input's
            # fault, so the caller hears what to fix instead of a 500.
            raise BadRequest(
                f"a credential cannot be read as RDF: {exc}; ids and types must be IRIs",
                code="compliance.unreadable_credential",
                pointer="/verifiableCredential",
            ) from exc
        violations += check_rules(context, self._rules)
        criteria = self.registry.criteria()
        met, unmet = check_criteria(context, criteria, wanted)
        violations += unmet
        if violations:
            raise ComplianceFailed(violations)
        return ComplianceResult(
            level=wanted,
            holder=submission.holder,
            credentials=submission.credentials,
            criteria=tuple(met),
            rules_version=f"{criteria.version}/{RULES_VERSION}",
            valid_until=_earliest_expiry(submission.credentials),
        )

    def _check_size(self, presentation: str | dict[str, Any]) -> None:
        limit = self.limits.max_bytes
        if isinstance(presentation, str):
            size = len(presentation)
        else:
            _depth(presentation, self.limits.max_depth + 2)
            size = len(_canonical(presentation))
        if size > limit:
            raise PayloadTooLarge(
                f"the presentation has {size} bytes; at most {limit} are checked",
                code="compliance.too_large",
            )

    def _submission(self, verified: PresentationCheck) -> Submission:
        checks = verified.credentials
        if not checks:
            raise BadRequest(
                "the presentation carries no credential",
                code="compliance.empty_presentation",
                pointer="/verifiableCredential",
            )
        if len(checks) > self.limits.max_credentials:
            raise BadRequest(
                f"the presentation carries {len(checks)} credentials; at most "
                f"{self.limits.max_credentials} are checked at once",
                code="compliance.too_many_credentials",
                pointer="/verifiableCredential",
            )
        credentials = []
        for index, check in enumerate(checks):
            try:
                _depth(check.credential, self.limits.max_depth)
            except BadRequest as exc:
                exc.pointer = f"/verifiableCredential/{index}"
                raise
            credentials.append(Submitted.of(index, check.credential, check.issuer, check.token))
        _check_duplicates(credentials)
        return Submission(holder=verified.holder, credentials=tuple(credentials))

    def _check_types(self, submission: Submission) -> None:
        known = set(self.known_types())
        violations = []
        for credential in submission.credentials:
            places = [("", credential.credential)] + [
                (pointer, subject) for pointer, subject in credential.subjects()
            ]
            for pointer, node in places:
                for type_name in types_of(node):
                    if type_name in _BASE_TYPES or type_name in known:
                        continue
                    violations.append(
                        Violation(
                            credential.id,
                            f"{pointer}/type",
                            "compliance.unknown_type",
                            f"{type_name} is not a type this clearing house has shapes for",
                            "use a type listed at GET /registry/credential-types "
                            f"(Gaia-X types are written gx:<Class>, with gx = {GX})",
                        )
                    )
        if violations:
            failed = ComplianceFailed(
                violations, f"{len(violations)} unknown type(s); nothing else was checked"
            )
            failed.code = "compliance.unknown_type"
            raise failed

    # --- issuing ----------------------------------------------------------------------------

    def issue_label(
        self, presentation: str | dict[str, Any], level: str, *, vcid: str | None = None
    ) -> IssuedLabel:
        """Check ``presentation`` and sign a ``gx:LabelCredential`` for it (90 days, status)."""
        if vcid is not None and not _IRI.fullmatch(vcid):
            raise BadRequest(
                "vcid must be an absolute IRI (a URL or urn:) for the label credential's id",
                code="compliance.invalid_vcid",
                pointer="query:vcid",
            )
        result = self.check(presentation, level)
        now = self._clock()
        until = now + LABEL_VALIDITY
        if result.valid_until is not None:
            until = min(until, result.valid_until)
        credential: dict[str, Any] = {
            "@context": [CREDENTIALS_V2, GX],
            "type": ["VerifiableCredential", "gx:LabelCredential"],
            "validFrom": format_datetime(now),
            "validUntil": format_datetime(until),
            "credentialSubject": {
                "type": "gx:LabelCredential",
                "gx:labelLevel": result.level,
                "gx:engineVersion": self.engine_version,
                "gx:rulesVersion": result.rules_version,
                "gx:validatedCriteria": [c.url for c in result.criteria],
                "gx:compliantCredentials": result.compliant_credentials(),
            },
        }
        if vcid is not None:
            credential["id"] = vcid
            credential["credentialSubject"]["id"] = f"{vcid}#cs"
        issued = self._issue(credential)
        envelope = issued.get("id")
        if not isinstance(envelope, str) or "," not in envelope:
            raise ConfigurationError(
                "the issue function must return an enveloped vc+jwt", code="compliance.issuer"
            )
        token = envelope.split(",", 1)[1]
        label = IssuedLabel(token=token, credential=credential, result=result)
        if self._on_issued is not None:
            self._on_issued(label)
        return label
