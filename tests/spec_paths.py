"""Where the shared specification copies are: ``../shared/spec`` beside the repository.

CI clones the repository into another folder with a copy of ``shared/`` beside it;
a developer's checkout has it at ``/work/shared``.
"""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def _locate() -> Path:
    for candidate in (_REPO.parent / "shared" / "spec", Path("/work/shared/spec")):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(
        f"the shared specification copies are missing: expected {_REPO.parent / 'shared/spec'}"
    )


SPEC = _locate()
