"""The criteria of the Gaia-X Compliance Document, as data, and how each one is evidenced.

The table (``data/criteria.yaml``, a copy of the spec's) says for every criterion which
label levels require it and whether by *declaration* (the provider's own signed
credentials carry it) or by *certification* (a certificate under one of the permissible
standards, from a conformity-assessment body the registry trusts). A federation replaces
the table through the registry; nothing here is specific to one version of it.

What counts as evidence is read from the table as well: the first Gaia-X term in the
criterion's ``loire_evidence`` (or, failing that, ``declaration_must_show``) names the
class (``gx:LegallyBindingAct``) or the property of a class
(``gx:LegalDocument.governingLawCountries``) a declaration must contain. An entry may set
``hansa_evidence`` to name it explicitly.

:func:`check_criteria` says which criteria a submission meets at a level: a declaration
is met when the holder's own credentials contain the evidence; a certification when a
``gx:StandardConformity`` credential about the offering, from a conformity-assessment body
the registry trusts, names a permissible scheme (``BSI C5``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from hansa.compliance.rules import (
    CERTIFICATE,
    DATA_CATEGORIES,
    DATA_PRODUCT,
    LEGAL_PERSON,
    PARTICIPANT_CATEGORIES,
    RuleContext,
    missing,
    types_of,
    value_of,
)
from hansa.compliance.violations import Violation
from hansa.errors import BadRequest

Level = Literal["SC", "L1", "L2", "L3"]
LEVELS: tuple[Level, ...] = ("SC", "L1", "L2", "L3")
EvidenceKind = Literal["declaration", "certification"]

BUILTIN_PATH = Path(__file__).parent / "data" / "criteria.yaml"
BUILTIN_VERSION = "CD24.11+CD25.10"
"""The Compliance Document versions the built-in table transcribes (P/D criteria, PA1.1)."""

_DOCS = "https://docs.gaia-x.eu/policy-rules-committee/compliance-document"
# Which page of the document states a criterion; label credentials cite criteria by URL.
_PAGES = {
    "participant": f"{_DOCS}/25.10/criteria_participant/",
    "data_exchange": f"{_DOCS}/24.11/criteria_data_exchange_services/",
}
_CLOUD_PAGE = f"{_DOCS}/24.11/criteria_cloud_services/"
_TERM = re.compile(r"\bgx:([A-Z][A-Za-z0-9]*)(?:\.(?:gx:)?([a-z][A-Za-z0-9]*))?")
_ALTERNATIVES = re.compile(r"(?:\s*/\s*(?:gx:)?[a-z][A-Za-z0-9]*)+")
_MAX_CRITERIA = 1000


@dataclass(frozen=True)
class EvidenceTarget:
    """What a declaration must contain: a node of ``cls``, or ``prop`` on some node.

    ``alternatives`` are further properties any of which also counts (the table writes
    ``gx:ServiceOffering.dependsOn / aggregationOfResources``).
    """

    cls: str
    prop: str | None = None
    alternatives: tuple[str, ...] = ()

    @property
    def props(self) -> tuple[str, ...]:
        return ((self.prop,) if self.prop else ()) + self.alternatives

    def describe(self) -> str:
        if not self.prop:
            return self.cls
        return f"{self.cls}.{self.prop}" + "".join(f" or {a}" for a in self.alternatives)


@dataclass(frozen=True)
class Criterion:
    """One criterion of the Compliance Document."""

    id: str
    category: str
    summary: str
    required_at: tuple[Level, ...]
    evidence: Mapping[str, str]
    permissible_standards: tuple[str, ...]
    declaration_must_show: str | None
    target: EvidenceTarget | None

    def evidence_at(self, level: Level) -> EvidenceKind | None:
        """How ``level`` wants this criterion evidenced, or None if it does not require it."""
        if level not in self.required_at:
            return None
        kind = self.evidence.get(level)
        return kind if kind in ("declaration", "certification") else None  # type: ignore[return-value]

    @property
    def url(self) -> str:
        """The criterion's anchor in the Compliance Document (as label credentials cite it)."""
        return f"{_PAGES.get(self.category, _CLOUD_PAGE)}#{self.id}"

    def accepts_standard(self, title: str) -> bool:
        """Whether a certificate of the standard ``title`` is permissible for this criterion.

        The table lists schemes with the controls that apply (``BSI C5 BC-01, OIS-03``); a
        certificate names the scheme (``BSI C5``), which must equal an entry's scheme.
        """
        wanted = " ".join(title.split()).casefold()
        return any(scheme_of(s).casefold() == wanted for s in self.permissible_standards)


# A token that starts the control references after a scheme's name: "BC-01", "5.1.A",
# "19.1.c", "3", "FR1", "A.5", "Annex", "(*)"; standard numbers such as "27001" do not.
_CONTROL = re.compile(
    r"\d{1,3}([.\-:,]\S*)?|[A-Z]{1,4}-\d\S*|[A-Z]\.\d\S*|[A-Z]{2,3}\d+\S*|\d+\.\S*"
    r"|all|Annex|section|\(.*"
)


def scheme_of(standard: str) -> str:
    """The scheme named by a permissible-standard entry (``BSI C5 BC-01`` -> ``BSI C5``)."""
    words: list[str] = []
    for token in standard.split():
        # "GDPR Art. 40 code of conduct": the article number is part of the scheme.
        if words and words[-1] != "Art." and _CONTROL.fullmatch(token.rstrip(",")):
            break
        words.append(token)
    return " ".join(words)


@dataclass(frozen=True)
class CriteriaSet:
    """A version of the criteria table."""

    version: str
    criteria: tuple[Criterion, ...]

    def required(self, level: Level, categories: Iterable[str]) -> list[Criterion]:
        """The criteria ``level`` requires among ``categories``, in table order."""
        wanted = set(categories)
        return [
            c for c in self.criteria if c.category in wanted and c.evidence_at(level) is not None
        ]

    def get(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "criteria": [
                {
                    "id": c.id,
                    "category": c.category,
                    "summary": c.summary,
                    "url": c.url,
                    "requiredAt": list(c.required_at),
                    "evidence": dict(c.evidence),
                    "permissibleStandards": list(c.permissible_standards),
                    "evidenceTarget": c.target.describe() if c.target else None,
                }
                for c in self.criteria
            ],
        }


def _invalid(detail: str, pointer: str) -> BadRequest:
    return BadRequest(detail, code="criteria.invalid", pointer=pointer)


def _target(entry: Mapping[str, Any], pointer: str) -> EvidenceTarget | None:
    explicit = entry.get("hansa_evidence")
    sources = [explicit] if explicit is not None else []
    sources += [entry.get("loire_evidence"), entry.get("declaration_must_show")]
    for text in sources:
        if not isinstance(text, str):
            continue
        match = _TERM.search(text)
        if match:
            if not match.group(2):
                return EvidenceTarget(f"gx:{match.group(1)}")
            others = _ALTERNATIVES.match(text, match.end())
            alternatives = (
                tuple(f"gx:{name}" for name in re.findall(r"[a-z][A-Za-z0-9]*", others.group(0)))
                if others
                else ()
            )
            return EvidenceTarget(f"gx:{match.group(1)}", f"gx:{match.group(2)}", alternatives)
        if text is explicit:
            raise _invalid(
                "hansa_evidence must name a gx: class or gx:Class.property",
                f"{pointer}/hansa_evidence",
            )
    return None


def _criterion(entry: Any, pointer: str) -> Criterion:
    if not isinstance(entry, dict):
        raise _invalid("each criterion is a mapping", pointer)
    criterion_id = entry.get("id")
    if not isinstance(criterion_id, str) or not criterion_id:
        raise _invalid("each criterion needs a string id", f"{pointer}/id")
    required = entry.get("required_at")
    # The table marks criteria it could not resolve as "unknown": they are required nowhere.
    levels = required if isinstance(required, list) else []
    if not all(level in LEVELS for level in levels):
        raise _invalid(f"required_at may list only {', '.join(LEVELS)}", f"{pointer}/required_at")
    evidence = entry.get("evidence_per_level") or {}
    if not isinstance(evidence, dict):
        raise _invalid("evidence_per_level is a mapping", f"{pointer}/evidence_per_level")
    for level in levels:
        if evidence.get(level) not in ("declaration", "certification"):
            raise _invalid(
                f"{criterion_id} is required at {level}: say declaration or certification",
                f"{pointer}/evidence_per_level/{level}",
            )
    standards = entry.get("permissible_standards") or []
    if not isinstance(standards, list) or not all(isinstance(s, str) for s in standards):
        raise _invalid(
            "permissible_standards is a list of strings", f"{pointer}/permissible_standards"
        )
    must_show = entry.get("declaration_must_show")
    return Criterion(
        id=criterion_id,
        category=str(entry.get("category", "")),
        summary=str(entry.get("summary", "")),
        required_at=tuple(levels),
        evidence={str(k): str(v) for k, v in evidence.items()},
        permissible_standards=tuple(standards),
        declaration_must_show=must_show if isinstance(must_show, str) else None,
        target=_target(entry, pointer),
    )


def load_criteria(document: Any, version: str | None = None) -> CriteriaSet:
    """A :class:`CriteriaSet` from a parsed criteria document; refuses a malformed one."""
    if not isinstance(document, dict) or not isinstance(document.get("criteria"), list):
        raise _invalid("a criteria document is a mapping with a 'criteria' list", "/criteria")
    entries = document["criteria"]
    if len(entries) > _MAX_CRITERIA:
        raise _invalid(f"more than {_MAX_CRITERIA} criteria", "/criteria")
    criteria = tuple(_criterion(e, f"/criteria/{i}") for i, e in enumerate(entries))
    seen: set[str] = set()
    for index, criterion in enumerate(criteria):
        if criterion.id in seen:
            raise _invalid(f"criterion {criterion.id} appears twice", f"/criteria/{index}/id")
        seen.add(criterion.id)
        if criterion.target is None and any(
            criterion.evidence_at(level) == "declaration" for level in LEVELS
        ):
            raise _invalid(
                f"{criterion.id} is declared but names no gx: evidence; set hansa_evidence",
                f"/criteria/{index}",
            )
    meta = document.get("meta")
    named = meta.get("hansa_version") if isinstance(meta, dict) else None
    return CriteriaSet(version=version or str(named or BUILTIN_VERSION), criteria=criteria)


def parse_criteria_yaml(text: str) -> dict[str, Any]:
    """Parse a criteria document (YAML or JSON); ``criteria.invalid`` if it is not one."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(f"not YAML: {exc}", "/") from exc
    if not isinstance(document, dict):
        raise _invalid("a criteria document is a mapping", "/")
    return document


@cache
def builtin_document() -> dict[str, Any]:
    """The shipped criteria table (parsed once)."""
    return parse_criteria_yaml(BUILTIN_PATH.read_text(encoding="utf-8"))


@cache
def builtin_criteria() -> CriteriaSet:
    """The shipped criteria table as a :class:`CriteriaSet`."""
    return load_criteria(builtin_document(), BUILTIN_VERSION)


# --- evaluation -----------------------------------------------------------------------------


def _declared(criterion: Criterion, nodes: list[dict[str, Any]]) -> bool:
    target = criterion.target
    if target is None:
        return False
    if target.props:
        return any(
            value_of(node, prop) not in (None, "", [], {})
            for node in nodes
            for prop in target.props
        )
    return any(target.cls in types_of(node) for node in nodes)


def _certified(criterion: Criterion, certificates: list[str]) -> bool:
    return any(criterion.accepts_standard(title) for title in certificates)


def _certificates(ctx: RuleContext, subject_id: str) -> list[str]:
    """Titles of the standards a trusted assessment body certified ``subject_id`` under."""
    titles = []
    for credential in ctx.submission.with_type(CERTIFICATE):
        if not ctx.is_assessment_body(credential.issuer):
            continue
        for _, subject in credential.subjects_of_type(CERTIFICATE):
            about = subject.get("id")
            # A certificate is about the offering when it sits in the offering's document:
            # same IRI up to the fragment (offering ``.../x#cs``, certificate ``.../x#c5``).
            if isinstance(about, str) and about.split("#")[0] == subject_id.split("#")[0]:
                title = value_of(subject, "dcterms:title")
                if isinstance(title, str):
                    titles.append(title)
    return titles


def check_criteria(
    ctx: RuleContext, criteria: CriteriaSet, level: Level
) -> tuple[list[Criterion], list[Violation]]:
    """The criteria ``level`` requires of this submission: those met, and a violation per miss."""
    submission = ctx.submission
    own_nodes = [
        node
        for c in submission.credentials
        if c.issuer == submission.holder
        for _, node in c.nodes()
    ]
    # (categories, subject id, where a missing declaration is reported)
    scopes: list[tuple[frozenset[str], str, str, str]] = []
    for credential, pointer, subject in submission.offerings():
        data = DATA_PRODUCT in types_of(subject)
        categories = (
            DATA_CATEGORIES
            if data
            else frozenset(c.category for c in criteria.criteria)
            - DATA_CATEGORIES
            - PARTICIPANT_CATEGORIES
        )
        scopes.append((categories, str(subject.get("id", "")), credential.id, pointer))
    for credential in submission.with_type(LEGAL_PERSON)[:1]:
        pointer, subject = credential.subjects_of_type(LEGAL_PERSON)[0]
        scopes.append((PARTICIPANT_CATEGORIES, str(subject.get("id", "")), credential.id, pointer))

    met: dict[str, Criterion] = {}
    violations: list[Violation] = []
    for categories, subject_id, credential_id, pointer in scopes:
        certificates = _certificates(ctx, subject_id)
        for criterion in criteria.required(level, categories):
            kind = criterion.evidence_at(level)
            if kind == "declaration" and _declared(criterion, own_nodes):
                met.setdefault(criterion.id, criterion)
                continue
            if kind == "certification" and _certified(criterion, certificates):
                met.setdefault(criterion.id, criterion)
                continue
            violations.append(_unmet(criterion, level, kind, credential_id, pointer, subject_id))
    if not scopes or (not met and not violations):
        violations.append(
            missing(
                "criteria.out_of_scope",
                f"no criterion of level {level} applies to these credentials: levels 1 to 3 "
                "label service offerings and data products",
                "add the gx:ServiceOffering (or gx:DataProduct) credential to the presentation",
            )
        )
    met_ids = {c.id for c in met.values()} - {v.rule.removeprefix("criterion.") for v in violations}
    return [c for c in criteria.criteria if c.id in met_ids], violations


def _unmet(
    criterion: Criterion,
    level: Level,
    kind: str | None,
    credential_id: str,
    pointer: str,
    subject_id: str,
) -> Violation:
    if kind == "certification":
        standards = ", ".join(criterion.permissible_standards) or (
            "none listed yet: the federation must add one before this level can be granted"
        )
        fix = (
            f"present a {CERTIFICATE} credential about {subject_id}, issued by a "
            f"conformity-assessment body this clearing house trusts, for one of: {standards}"
        )
    else:
        target = criterion.target.describe() if criterion.target else "the evidence"
        shown = f" ({criterion.declaration_must_show})" if criterion.declaration_must_show else ""
        fix = f"declare {target}{shown} in a credential you sign"
    return Violation(
        credential_id,
        pointer,
        f"criterion.{criterion.id}",
        f"{criterion.id} ({level}, by {kind}): {criterion.summary}",
        fix,
    )
