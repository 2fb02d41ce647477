"""The data plane's errors: each a subclass of a :mod:`hansa.errors` class with a stable code.

HansaError
├── Unauthorized 401    dataplane.token_invalid, dataplane.token_expired
├── Forbidden 403       dataplane.token_mismatch, dataplane.path_traversal,
│                       dataplane.endpoint_not_allowed,
│   └── AgreementNotInForce   dataplane.agreement_revoked, dataplane.agreement_expired,
│                             dataplane.access_limit_reached (raised by the connector's check)
├── NotFound 404        dataplane.not_found, dataplane.transfer_not_found
├── RangeNotSatisfiable 416   dataplane.range_not_satisfiable (carries the object size)
├── BadRequest 400      dataplane.write_unsupported (HttpData is read-only)
├── UpstreamError 502   dataplane.backend_failed, dataplane.backend_auth_failed,
│                       dataplane.integrity_failed, dataplane.pull_refused (pull.py; the
│                       provider's own code in ``remote_code``)
└── ConfigurationError  dataplane.unknown_backend, dataplane.backend_misconfigured
"""

from __future__ import annotations

from typing import Any, ClassVar

from hansa.errors import ConfigurationError, Forbidden, HansaError, NotFound, UpstreamError

PATH_TRAVERSAL = "dataplane.path_traversal"
NOT_FOUND = "dataplane.not_found"
TRANSFER_NOT_FOUND = "dataplane.transfer_not_found"
BACKEND_FAILED = "dataplane.backend_failed"
BACKEND_AUTH_FAILED = "dataplane.backend_auth_failed"
RANGE_NOT_SATISFIABLE = "dataplane.range_not_satisfiable"
UNKNOWN_BACKEND = "dataplane.unknown_backend"
WRITE_UNSUPPORTED = "dataplane.write_unsupported"
BACKEND_MISCONFIGURED = "dataplane.backend_misconfigured"
ENDPOINT_NOT_ALLOWED = "dataplane.endpoint_not_allowed"
TOKEN_INVALID = "dataplane.token_invalid"  # noqa: S105 (an error code)
TOKEN_EXPIRED = "dataplane.token_expired"  # noqa: S105 (an error code)
TOKEN_MISMATCH = "dataplane.token_mismatch"  # noqa: S105 (an error code)
AGREEMENT_REVOKED = "dataplane.agreement_revoked"
AGREEMENT_EXPIRED = "dataplane.agreement_expired"
ACCESS_LIMIT_REACHED = "dataplane.access_limit_reached"


class DataNotFound(NotFound):
    """``dataplane.not_found``: the backend has no object at this address."""

    default_code = NOT_FOUND
    title = "Data not found"


class BackendFailed(UpstreamError):
    """``dataplane.backend_failed``: the storage failed (also mid-stream: never a short body)."""

    default_code = BACKEND_FAILED
    title = "Storage backend failed"


class BackendAuthFailed(UpstreamError):
    """``dataplane.backend_auth_failed``: the storage refused this node's credentials."""

    default_code = BACKEND_AUTH_FAILED
    title = "Storage backend refused the credentials"


class PathRefused(Forbidden):
    """``dataplane.path_traversal``: a File address leads outside the node's file root."""

    default_code = PATH_TRAVERSAL
    title = "Path outside the file root"


class RangeNotSatisfiable(HansaError):
    """416: the requested range starts at or after the end; ``size`` goes into Content-Range."""

    status = 416
    default_code = RANGE_NOT_SATISFIABLE
    title = "Range not satisfiable"

    def __init__(self, detail: str, *, size: int | None, **extra: Any) -> None:
        super().__init__(detail, size=size, **extra)
        self.size = size


class AgreementNotInForce(Forbidden):
    """Raised by the connector's ``check_agreement``: revoked, expired or used up."""

    default_code = AGREEMENT_REVOKED
    title = "Agreement not in force"
    codes: ClassVar[frozenset[str]] = frozenset(
        {AGREEMENT_REVOKED, AGREEMENT_EXPIRED, ACCESS_LIMIT_REACHED}
    )


def is_agreement_refusal(error: HansaError) -> bool:
    """Whether ``error`` says the agreement is not in force (whatever class the checker used)."""
    return isinstance(error, AgreementNotInForce) or error.code in AgreementNotInForce.codes


class UnknownBackend(ConfigurationError):
    """``dataplane.unknown_backend``: no backend is registered for a data address type."""

    default_code = UNKNOWN_BACKEND
    title = "No storage backend for this data address type"
