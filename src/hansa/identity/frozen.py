"""Read-only JSON values, for cached documents that every caller shares.

A resolver's cache hands the same DID document to every verification. Copying it for each
caller (``copy.deepcopy``) cost about as much as the signature check it served; a frozen
value costs nothing to hand out, and a caller that tries to change it gets a ``TypeError``
at once instead of silently changing what every later verification sees.

:func:`freeze` returns ``dict`` and ``list`` subclasses, so ``isinstance`` checks, ``json``
and equality work as before; ``copy.deepcopy`` of a frozen value gives plain, mutable
``dict`` / ``list`` again, for a caller that wants to edit its own copy.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise TypeError(
        "this JSON value is shared from a cache and read-only; change a copy "
        "(copy.deepcopy gives a mutable one)"
    )


class FrozenDict(dict[str, Any]):
    """A JSON object that refuses every change."""

    __slots__ = ()
    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[Any]):
    """A JSON array that refuses every change."""

    __slots__ = ()
    __setitem__ = __delitem__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __iadd__ = __imul__ = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(value, memo) for value in self]

    def __copy__(self) -> list[Any]:
        return list(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


def freeze(value: Any) -> Any:
    """``value`` (parsed JSON) with every object and array replaced by a read-only one."""
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(item) for item in value)
    return value


__all__ = ["FrozenDict", "FrozenList", "freeze"]
