"""The data plane: storage backends, streaming, data access tokens, the data endpoint, usage.

Modules by concern: :mod:`~hansa.dataplane.backends` (the interface and its registry),
``backend_files`` / ``backend_s3`` / ``backend_http`` (the built-in backends, registered
through the ``hansa.storage_backends`` entry points), :mod:`~hansa.dataplane.streaming`
(ranges, hashing, the metered ASGI response), :mod:`~hansa.dataplane.tokens`,
:mod:`~hansa.dataplane.server` (``GET /data/{transfer_id}``), :mod:`~hansa.dataplane.usage`
(CloudEvents usage log), :mod:`~hansa.dataplane.pull` (the consumer's download) and
:mod:`~hansa.dataplane.errors`. The backends themselves are
not imported here, so that a node without boto3 installed can still serve files.
"""

from __future__ import annotations

from hansa.dataplane.backends import (
    CHUNK_SIZE,
    ENTRY_POINT_GROUP,
    BackendRegistry,
    DataAddress,
    DataPlaneConfig,
    MemoryBackend,
    ObjectInfo,
    ReadStream,
    S3Config,
    StorageBackend,
    WriteResult,
    available_backends,
    config_from_settings,
)
from hansa.dataplane.errors import (
    AgreementNotInForce,
    BackendAuthFailed,
    BackendFailed,
    DataNotFound,
    PathRefused,
    RangeNotSatisfiable,
    UnknownBackend,
)
from hansa.dataplane.pull import PullResult, pull
from hansa.dataplane.server import DataEndpoint, ResolveTransfer, TransferTarget, data_router
from hansa.dataplane.streaming import (
    ByteRange,
    HashingIterator,
    MeteredStreamResponse,
    StreamResult,
    parse_range,
)
from hansa.dataplane.tokens import (
    DATA_TOKEN_TYP,
    CheckAgreement,
    DataGrant,
    DataToken,
    DataTokenAuthority,
)
from hansa.dataplane.usage import Access, MemoryUsageLog, SqlUsageLog, UsageLog, access_event

__all__ = [
    "CHUNK_SIZE",
    "DATA_TOKEN_TYP",
    "ENTRY_POINT_GROUP",
    "Access",
    "AgreementNotInForce",
    "BackendAuthFailed",
    "BackendFailed",
    "BackendRegistry",
    "ByteRange",
    "CheckAgreement",
    "DataAddress",
    "DataEndpoint",
    "DataGrant",
    "DataNotFound",
    "DataPlaneConfig",
    "DataToken",
    "DataTokenAuthority",
    "HashingIterator",
    "MemoryBackend",
    "MemoryUsageLog",
    "MeteredStreamResponse",
    "ObjectInfo",
    "PathRefused",
    "PullResult",
    "RangeNotSatisfiable",
    "ReadStream",
    "ResolveTransfer",
    "S3Config",
    "SqlUsageLog",
    "StorageBackend",
    "StreamResult",
    "TransferTarget",
    "UnknownBackend",
    "UsageLog",
    "WriteResult",
    "access_event",
    "available_backends",
    "config_from_settings",
    "data_router",
    "parse_range",
    "pull",
]
