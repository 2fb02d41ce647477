"""Which held credentials a DCP presentation query asks for: scopes and presentation definitions.

Pure functions over credentials as JSON objects (the payloads of the ``vc+jwt`` tokens).

**Scopes** (DCP 1.0, "Scopes"): ``<alias>:<discriminator>``, optionally followed by an
operation as Eclipse EDC writes it (``:read``, ``:write``, ``:*``, ``:all``). Supported aliases:

- ``org.eclipse.dspace.dcp.vc.type:<Type>`` — credentials whose ``type`` contains ``<Type>``
  exactly (``MembershipCredential``; a prefixed or full IRI type must be named as written);
- ``org.eclipse.dspace.dcp.vc.id:<id>`` — the credential whose ``id`` is ``<id>`` (or
  ``urn:uuid:<id>``).

A scope with another alias, or with the ``write`` operation only, selects nothing (DCP: scopes
the client is not entitled to give fewer presentations, not an error).

**Presentation definitions** (DIF Presentation Exchange 2): supported are input descriptors
with ``constraints.fields``, each field with ``path`` (a list of JSONPaths; the first that
resolves is used), an optional ``filter`` (a JSON Schema, draft 7) and ``optional``. A
JSONPath is ``$`` followed by ``.name``, ``['name']`` or ``[index]`` steps; ``$.vc.…`` (the
VC-JWT 1.1 form) reads the credential itself. When the value is an array (``$.type``) and the
filter does not accept the array, an element it accepts is enough (so ``{"type": "string",
"pattern": "MembershipCredential"}`` works on ``$.type``, as DCP's own example expects).
``format`` is not enforced (Hansa presents ``vc+jwt`` only). Anything else —
``submission_requirements``, ``frame``, ``limit_disclosure``, ``statuses``, ``is_holder``,
``same_subject``, ``subject_is_issuer``, field ``predicate``, wildcards or filters in paths —
is refused with ``501 dcp.presentation_definition_unsupported``, as DCP asks of an
implementation that does not support what it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from hansa.errors import BadRequest, HansaError

VC_TYPE_ALIAS = "org.eclipse.dspace.dcp.vc.type"
VC_ID_ALIAS = "org.eclipse.dspace.dcp.vc.id"
_OPERATIONS = frozenset({"read", "write", "*", "all"})
_READ_OPERATIONS = frozenset({"read", "*", "all"})

_DEFINITION_KEYS = frozenset({"id", "name", "purpose", "format", "input_descriptors"})
_DESCRIPTOR_KEYS = frozenset({"id", "name", "purpose", "format", "group", "constraints"})
_CONSTRAINT_KEYS = frozenset({"fields"})
_FIELD_KEYS = frozenset({"id", "path", "filter", "optional", "purpose", "name", "intent_to_retain"})
_PATH_STEP = re.compile(r"""\.([A-Za-z_@$][\w@$:-]*)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


class NotImplementedByHansa(HansaError):
    """501: the request uses a feature Hansa does not implement."""

    status = 501
    default_code = "not_implemented"
    title = "Not implemented"


# --- scopes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A parsed DCP scope."""

    alias: str
    value: str
    operation: str | None

    @property
    def reads(self) -> bool:
        return self.operation is None or self.operation in _READ_OPERATIONS


def parse_scope(text: str) -> Scope | None:
    """``org.eclipse.dspace.dcp.vc.type:Member:read`` -> Scope; None for unknown aliases."""
    for alias in (VC_TYPE_ALIAS, VC_ID_ALIAS):
        if text.startswith(alias + ":"):
            rest = text[len(alias) + 1 :]
            value, separator, operation = rest.rpartition(":")
            if not separator or operation not in _OPERATIONS:
                value, operation = rest, ""
            if not value:
                return None
            return Scope(alias, value, operation or None)
    return None


def credential_types(credential: Mapping[str, Any]) -> list[str]:
    types = credential.get("type")
    values = types if isinstance(types, list) else [types]
    return [t for t in values if isinstance(t, str)]


def matches_scope(credential: Mapping[str, Any], scope: Scope) -> bool:
    """Whether ``scope`` gives read access to ``credential``."""
    if not scope.reads:
        return False
    if scope.alias == VC_TYPE_ALIAS:
        return scope.value in credential_types(credential)
    identifier = credential.get("id")
    return identifier in (scope.value, f"urn:uuid:{scope.value}")


def select_by_scopes(credentials: Sequence[Mapping[str, Any]], scopes: Sequence[str]) -> list[int]:
    """Indexes of the credentials any of ``scopes`` gives read access to, in order."""
    parsed = [s for s in (parse_scope(text) for text in scopes) if s is not None]
    return [
        index
        for index, credential in enumerate(credentials)
        if any(matches_scope(credential, scope) for scope in parsed)
    ]


# --- presentation definitions ----------------------------------------------------------------


def _unsupported(detail: str, pointer: str) -> NotImplementedByHansa:
    return NotImplementedByHansa(
        f"{detail}; Hansa evaluates input descriptors with constraints.fields (path, filter, "
        "optional) only",
        code="dcp.presentation_definition_unsupported",
        pointer=pointer,
    )


def parse_path(path: str, pointer: str) -> list[str | int]:
    """A JSONPath of the supported subset (module docstring) as a list of steps."""
    if not path.startswith("$"):
        raise _unsupported(f"JSONPath {path!r} does not start with $", pointer)
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if match is None:
            raise _unsupported(
                f"JSONPath {path!r} uses syntax beyond .name, ['name'], [n]", pointer
            )
        name, index, quoted, double_quoted = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(name if name is not None else (quoted or double_quoted or ""))
        position = match.end()
    return steps


def _follow(document: Any, steps: Sequence[str | int]) -> tuple[bool, Any]:
    value = document
    for step in steps:
        in_list = isinstance(step, int) and isinstance(value, list) and step < len(value)
        in_object = isinstance(step, str) and isinstance(value, dict) and step in value
        if not (in_list or in_object):
            return False, None
        value = value[step]
    return True, value


def _filter_accepts(validator: Draft7Validator | None, value: Any) -> bool:
    if validator is None:
        return True
    if validator.is_valid(value):
        return True
    return isinstance(value, list) and any(validator.is_valid(item) for item in value)


@dataclass(frozen=True)
class _Field:
    paths: list[list[str | int]]
    validator: Draft7Validator | None
    optional: bool


@dataclass(frozen=True)
class _Descriptor:
    id: str
    fields: list[_Field]


def _check_keys(value: Mapping[str, Any], allowed: frozenset[str], pointer: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise _unsupported(f"{', '.join(extra)} is not supported", f"{pointer}/{extra[0]}")


def _compile(definition: Mapping[str, Any]) -> list[_Descriptor]:
    base = "/presentationDefinition"
    _check_keys(definition, _DEFINITION_KEYS, base)
    descriptors = []
    for d_index, descriptor in enumerate(definition.get("input_descriptors", [])):
        d_pointer = f"{base}/input_descriptors/{d_index}"
        _check_keys(descriptor, _DESCRIPTOR_KEYS, d_pointer)
        constraints = descriptor.get("constraints", {})
        _check_keys(constraints, _CONSTRAINT_KEYS, f"{d_pointer}/constraints")
        fields = []
        for f_index, field in enumerate(constraints.get("fields", [])):
            f_pointer = f"{d_pointer}/constraints/fields/{f_index}"
            _check_keys(field, _FIELD_KEYS, f_pointer)
            paths = [
                parse_path(p, f"{f_pointer}/path/{i}") for i, p in enumerate(field.get("path", []))
            ]
            validator = None
            if "filter" in field:
                try:
                    Draft7Validator.check_schema(field["filter"])
                except SchemaError as exc:
                    raise BadRequest(
                        f"the filter is not a valid JSON Schema: {exc.message}",
                        code="dcp.query_invalid",
                        pointer=f"{f_pointer}/filter",
                    ) from exc
                validator = Draft7Validator(field["filter"])
            fields.append(_Field(paths, validator, bool(field.get("optional", False))))
        descriptors.append(_Descriptor(str(descriptor["id"]), fields))
    return descriptors


def _field_matches(field: _Field, credential: Mapping[str, Any]) -> bool:
    # ``$.vc.*`` is how VC-JWT 1.1 definitions address a credential; here it is the payload.
    document = credential if "vc" in credential else {**credential, "vc": credential}
    for steps in field.paths:
        found, value = _follow(document, steps)
        if found:
            return _filter_accepts(field.validator, value)
    return field.optional


def evaluate_definition(
    definition: Mapping[str, Any], credentials: Sequence[Mapping[str, Any]]
) -> list[tuple[str, int]]:
    """(input descriptor id, credential index) for every credential matching a descriptor.

    ``definition`` has passed the DCP query schema; unsupported features raise a 501.
    """
    matches = []
    for descriptor in _compile(definition):
        for index, credential in enumerate(credentials):
            if all(_field_matches(field, credential) for field in descriptor.fields):
                matches.append((descriptor.id, index))
    return matches


__all__ = [
    "VC_ID_ALIAS",
    "VC_TYPE_ALIAS",
    "NotImplementedByHansa",
    "Scope",
    "credential_types",
    "evaluate_definition",
    "matches_scope",
    "parse_path",
    "parse_scope",
    "select_by_scopes",
]
