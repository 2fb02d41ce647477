"""One error hierarchy for all of Hansa, mapped to RFC 9457 problem+json.

Every error carries a stable machine ``code`` (``vc.signature_invalid``), a short
``title``, an HTTP ``status``, a ``detail`` that says what to fix, and, where the
problem sits in the caller's input, a ``pointer`` (RFC 6901 JSON pointer or a
header / parameter name).

    HansaError                      500 internal
    ├── BadRequest                  400 (input is malformed or fails validation)
    │   ├── ValidationFailed        422 (well-formed, but the content is wrong)
    │   └── PayloadTooLarge         413
    ├── Unauthorized                401 (no or wrong credential)
    ├── Forbidden                   403 (authenticated, but not allowed)
    ├── NotFound                    404
    ├── Conflict                    409 (state or rule conflict, e.g. failed checks)
    ├── UpstreamError               502 (a remote party answered badly)
    │   └── UpstreamUnavailable     503/504 (a remote party could not be reached)
    └── ConfigurationError          500 (the node is set up wrongly)
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://hansa.dev/problems/"


class HansaError(Exception):
    """The root of every error Hansa raises on purpose."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        pointer: str | None = None,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.pointer = pointer
        self.errors = errors
        self.extra = extra
        if status is not None:
            self.status_code = status
        else:
            self.status_code = type(self).status

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Render as an RFC 9457 problem details object."""
        problem: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            problem["instance"] = instance
        if self.pointer is not None:
            problem["pointer"] = self.pointer
        if self.errors:
            problem["errors"] = self.errors
        problem.update(self.extra)
        return problem

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class BadRequest(HansaError):
    status = 400
    default_code = "request.invalid"
    title = "Bad request"


class ValidationFailed(BadRequest):
    status = 422
    default_code = "request.validation_failed"
    title = "Validation failed"


class PayloadTooLarge(BadRequest):
    status = 413
    default_code = "request.too_large"
    title = "Payload too large"


class Unauthorized(HansaError):
    status = 401
    default_code = "auth.unauthorized"
    title = "Unauthorized"


class Forbidden(HansaError):
    status = 403
    default_code = "auth.forbidden"
    title = "Forbidden"


class NotFound(HansaError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class Conflict(HansaError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class UpstreamError(HansaError):
    status = 502
    default_code = "upstream.invalid"
    title = "Bad answer from a remote party"


class UpstreamUnavailable(UpstreamError):
    status = 503
    default_code = "upstream.unreachable"
    title = "Remote party unreachable"


class ConfigurationError(HansaError):
    status = 500
    default_code = "config.invalid"
    title = "Configuration error"
