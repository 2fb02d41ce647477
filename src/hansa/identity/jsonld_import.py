"""``@import`` merged into contexts before pyld sees them.

JSON-LD 1.1 context processing merges an ``@import``-ed context into the importing one
(the importing entries win). pyld 3.3 does the merge *in place on the imported document it
has cached* (``import_ctx.update(ctx)``), and caches the merged result per active context:
after one DSP message (the DSP context imports the ODRL profile from four scoped contexts)
the cached ODRL profile holds DSP terms, and later documents are processed differently,
or crash, depending on what was processed before. Merging here, on copies, means pyld
never sees an ``@import`` it could resolve, so its cache stays what the loader served.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hansa.errors import BadRequest

Fetch = Callable[[str], Any]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+\-.]*:")
_MAX_NESTING = 32  # scoped contexts within scoped contexts


def inline_imports(context: Any, fetch: Fetch) -> Any:
    """``context`` with each ``@import`` of an absolute URL merged in (new lists and maps
    where something changed; the leaves are shared with ``context``).

    ``fetch(url)`` returns the context document for a URL (or raises). What pyld itself
    refuses (an imported context that is not an object, or imports again) is left as it
    is, for pyld to refuse.
    """
    return _context(context, fetch, frozenset(), 0)


def _context(context: Any, fetch: Fetch, importing: frozenset[str], depth: int) -> Any:
    if depth > _MAX_NESTING:
        raise BadRequest(
            f"scoped contexts nest deeper than {_MAX_NESTING} levels",
            code="jsonld.context_loop",
            pointer="/@context",
        )
    if isinstance(context, list):
        return [_context(item, fetch, importing, depth) for item in context]
    if isinstance(context, dict):
        return _map(context, fetch, importing, depth)
    return context


def _map(context: dict[str, Any], fetch: Fetch, importing: frozenset[str], depth: int) -> Any:
    url = context.get("@import")
    if isinstance(url, str) and _URL.match(url):
        if url in importing:
            raise BadRequest(
                f"@context imports {url} within itself",
                code="jsonld.context_loop",
                pointer="/@context",
            )
        document = fetch(url)
        imported = document.get("@context") if isinstance(document, dict) else None
        if isinstance(imported, dict) and "@import" not in imported:
            rest = {key: value for key, value in context.items() if key != "@import"}
            context = {**imported, **rest}
            importing = importing | {url}
    merged: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, dict) and "@context" in value:
            scoped = _context(value["@context"], fetch, importing, depth + 1)
            value = {**value, "@context": scoped}
        merged[key] = value
    return merged


def inline_document_imports(document: Any, fetch: Fetch) -> None:
    """Merge the imports of every ``@context`` in a JSON-LD document, in place."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "@context":
                    value[key] = inline_imports(child, fetch)
                else:
                    stack.append(child)
        elif isinstance(value, list):
            stack.extend(value)
