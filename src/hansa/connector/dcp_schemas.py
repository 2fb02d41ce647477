"""Validate DCP 1.0 presentation messages against the official JSON schemas, offline.

The schemas ship in ``schemas/dcp/`` (README there: source, licence, the upstream ``$id``
defect of the context schema, and the Presentation Exchange stand-ins). A bare
``referencing.Registry`` has no retrieve hook, so a ``$ref`` outside the bundled files fails
instead of reaching the network; the JSON Schema meta-schemas (Presentation Exchange filters
``$ref`` draft-07's) come from jsonschema's own bundled copies.

As for DSP messages (:mod:`hansa.connector.dsp_schemas`), jsonschema-rs checks first
(offline, the same files); jsonschema describes the errors of an invalid document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft7Validator, Draft201909Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT201909

from hansa.errors import BadRequest, HansaError, UpstreamError

SCHEMA_DIR = Path(__file__).parent / "schemas" / "dcp"
DCP_CONTEXT = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"
QUERY_SCHEMA = (
    "https://w3id.org/dspace-dcp/v1.0/presentation/presentation-query-message-schema.json"
)
RESPONSE_SCHEMA = (
    "https://w3id.org/dspace-dcp/v1.0/presentation/presentation-response-message-schema.json"
)
# Upstream defect: the file's $id says v08, the message schemas reference it under v1.0.
_CONTEXT_SCHEMA_ALIAS = "https://w3id.org/dspace-dcp/v1.0/common/context-schema.json"
_MAX_ERRORS = 10
_DRAFT7 = "http://json-schema.org/draft-07/schema"


@cache
def _schema_files() -> tuple[tuple[str, Any], ...]:
    """Every bundled schema as ``(uri, contents)``, the context schema under both URIs."""
    files: list[tuple[str, Any]] = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        files.append((contents["$id"], contents))
        if path.name == "context-schema.json":
            files.append((_CONTEXT_SCHEMA_ALIAS, contents))
    return tuple(files)


@cache
def schema_registry() -> Registry[Any]:
    """Every bundled DCP (and Presentation Exchange stand-in) schema, by ``$id``."""
    resources = [
        (uri, Resource.from_contents(contents, default_specification=DRAFT201909))
        for uri, contents in _schema_files()
    ]
    return Registry().with_resources(resources).crawl()


@cache
def _validator(uri: str) -> Draft201909Validator:
    return Draft201909Validator(schema_registry().contents(uri), registry=schema_registry())


@cache
def _fast_validator(uri: str) -> jsonschema_rs.Validator:
    # The draft-07 meta-schema the filters reference, from jsonschema's bundled copy too.
    meta = (_DRAFT7, dict(Draft7Validator.META_SCHEMA))
    return jsonschema_rs.Draft201909Validator(
        schema_registry().contents(uri),
        registry=jsonschema_rs.Registry([*_schema_files(), meta], draft=jsonschema_rs.Draft201909),
        offline=True,
    )


def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _describe(error: ValidationError) -> dict[str, str]:
    if error.validator in ("anyOf", "oneOf") and error.context:
        closest = best_match(error.context)
        return {"pointer": _pointer(closest.absolute_path), "detail": closest.message[:300]}
    return {"pointer": _pointer(error.absolute_path), "detail": error.message[:300]}


def schema_errors(document: Any, schema_uri: str) -> list[dict[str, str]]:
    """Every violation of the schema ``schema_uri`` as ``{pointer, detail}`` (empty if valid)."""
    if _fast_validator(schema_uri).is_valid(document):
        return []
    errors = sorted(_validator(schema_uri).iter_errors(document), key=lambda e: list(e.path))
    return [_describe(e) for e in errors[:_MAX_ERRORS]]


def _fail(errors: list[dict[str, str]], what: str, error: type[HansaError], code: str) -> None:
    first = errors[0]
    raise error(
        f"the {what} does not follow the DCP 1.0 schema: {first['detail']} at "
        f"{first['pointer'] or '/'}"
        + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
        code=code,
        pointer=first["pointer"],
        errors=errors,
    )


def validate_query_message(message: Any) -> None:
    """A ``PresentationQueryMessage`` as received: ``dcp.query_invalid`` (400) if not valid."""
    errors = schema_errors(message, QUERY_SCHEMA)
    if errors:
        _fail(errors, "PresentationQueryMessage", BadRequest, "dcp.query_invalid")


def validate_response_message(message: Any) -> None:
    """A ``PresentationResponseMessage`` as received: ``dcp.response_invalid`` (502) if not."""
    errors = schema_errors(message, RESPONSE_SCHEMA)
    if errors:
        _fail(errors, "PresentationResponseMessage", UpstreamError, "dcp.response_invalid")


__all__ = [
    "DCP_CONTEXT",
    "QUERY_SCHEMA",
    "RESPONSE_SCHEMA",
    "schema_errors",
    "schema_registry",
    "validate_query_message",
    "validate_response_message",
]
