"""The provider's data endpoint: ``GET /data/{transfer_id}`` with a data access token.

Every request, in order:

1. ``Authorization: Bearer <data token>`` is verified (:mod:`hansa.dataplane.tokens`):
   forged, altered, expired or foreign tokens are 401.
2. The token must be for this transfer, and the transfer (``resolve_transfer``, from the
   connector) for the token's agreement, consumer and asset: otherwise 403
   ``dataplane.token_mismatch``.
3. ``check_agreement`` (from the connector) must pass: revoked, expired or used-up
   agreements are 403 and logged as ``refused``.
4. The backend for the transfer's data address streams the bytes, with RFC 9110 single
   ranges (206 + ``Content-Range``; 416 + ``Content-Range: bytes */size``; ``If-Range``
   with a strong ETag), ``ETag`` and,
   when known, ``X-Content-SHA256`` (the hex SHA-256 of the whole object).
5. ``check_agreement`` runs again before every ``check_every``-th chunk (default: each
   1 MiB chunk), so a revoked agreement stops a running download within one chunk; the
   connection is cut, so the consumer sees an incomplete body.
6. One usage event (CloudEvents) is recorded when the response ends: ``completed``,
   ``aborted`` (the consumer hung up; the bytes actually sent), ``revoked`` or ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hansa.dataplane.backends import BackendRegistry, DataAddress, ReadStream
from hansa.dataplane.errors import (
    TOKEN_INVALID,
    TOKEN_MISMATCH,
    RangeNotSatisfiable,
    is_agreement_refusal,
)
from hansa.dataplane.streaming import (
    ByteRange,
    MeteredStreamResponse,
    StreamResult,
    parse_range,
    unsatisfied_content_range,
)
from hansa.dataplane.tokens import CheckAgreement, DataGrant, DataTokenAuthority
from hansa.dataplane.usage import Access, UsageLog, access_event
from hansa.errors import Forbidden, HansaError, Unauthorized, UpstreamError
from hansa.web import problem_response


@dataclass(frozen=True)
class TransferTarget:
    """What the connector knows about a started transfer: whose, under what, from where."""

    transfer_id: str
    agreement_id: str
    consumer_did: str
    asset_id: str
    address: DataAddress
    sha256: str | None = None
    """The hex SHA-256 of the asset's data, if the connector knows it (sent as a header)."""


ResolveTransfer = Callable[[str], TransferTarget]
"""``resolve_transfer(transfer_id)``: the started transfer, or ``dataplane.transfer_not_found``."""


class DataEndpoint:
    """The provider's data endpoint service (its dependencies come from the connector)."""

    def __init__(
        self,
        *,
        tokens: DataTokenAuthority,
        backends: BackendRegistry,
        resolve_transfer: ResolveTransfer,
        check_agreement: CheckAgreement,
        usage: UsageLog,
        source: str,
        check_every: int = 1,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``source`` is the CloudEvents source of usage events (e.g. ``<DID>/dataplane``)."""
        self.tokens = tokens
        self.backends = backends
        self.resolve_transfer = resolve_transfer
        self.check_agreement = check_agreement
        self.usage = usage
        self.source = source
        self.check_every = check_every
        self.clock = clock

    def authorise(
        self, authorization: str | None, transfer_id: str
    ) -> tuple[TransferTarget, DataGrant]:
        """Steps 1-3: the transfer this request may read (401 / 403 / 404 otherwise)."""
        grant = self.tokens.verify(_bearer(authorization)).grant
        if grant.transfer_id != transfer_id:
            raise Forbidden(
                "the data token was issued for another transfer; use the token you received "
                "for this one",
                code=TOKEN_MISMATCH,
                pointer="/transfer_id",
            )
        target = self.resolve_transfer(transfer_id)
        for claim, expected in (
            ("agreement_id", target.agreement_id),
            ("consumer_did", target.consumer_did),
            ("asset_id", target.asset_id),
        ):
            if getattr(grant, claim) != expected:
                raise Forbidden(
                    f"the data token's {claim} does not match this transfer",
                    code=TOKEN_MISMATCH,
                    pointer=f"/{claim}",
                )
        try:
            self.check_agreement(grant.agreement_id, grant.consumer_did, grant.asset_id)
        except HansaError as exc:
            if is_agreement_refusal(exc):
                self.record(target, grant, 0, "refused", error=exc.code)
            raise
        return target, grant

    def check(self, grant: DataGrant) -> Callable[[], None]:
        """The per-chunk guard for one response."""

        def guard() -> None:
            self.check_agreement(grant.agreement_id, grant.consumer_did, grant.asset_id)

        return guard

    def record(
        self,
        target: TransferTarget,
        grant: DataGrant,
        sent: int,
        outcome: str,
        *,
        content_range: str | None = None,
        error: str | None = None,
    ) -> None:
        """Write one usage event for this access."""
        access = Access(
            transfer_id=target.transfer_id,
            agreement_id=grant.agreement_id,
            counterparty=grant.consumer_did,
            asset_id=grant.asset_id,
            bytes=sent,
            outcome=outcome,
            range=content_range,
            error=error,
        )
        self.usage.record(access_event(access, source=self.source, time=self.clock()))


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send the data token you received for this transfer as 'Authorization: Bearer <token>'",
            code=TOKEN_INVALID,
            pointer="Authorization",
        )
    return token.strip()


class DataResponse(Response):
    """A Starlette Response around :class:`MeteredStreamResponse`, so FastAPI passes it on."""

    def __init__(self, stream: MeteredStreamResponse) -> None:
        super().__init__(status_code=stream.status)
        self.raw_headers = list(stream.headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._stream(scope, receive, send)


async def serve_data(endpoint: DataEndpoint, request: Request, transfer_id: str) -> Response:
    """Steps 1-6 of the module docstring for one request."""
    target, grant = await anyio.to_thread.run_sync(
        endpoint.authorise, request.headers.get("authorization"), transfer_id
    )
    backend = endpoint.backends.for_address(target.address)
    wanted: ByteRange | None = None
    range_header = request.headers.get("range")
    try:
        if range_header is not None:
            info = await anyio.to_thread.run_sync(backend.stat, target.address)
            if_range = request.headers.get("if-range")
            # RFC 9110 13.1.5: a range of a changed representation would corrupt a resumed
            # download, so a non-matching (or weak) If-Range gets the whole object.
            unchanged = if_range is None or (
                info.etag is not None and not if_range.startswith("W/") and if_range == info.etag
            )
            if info.size is not None and unchanged:
                wanted = parse_range(range_header, info.size)
        opener: AbstractContextManager[ReadStream] = (
            backend.open(target.address, offset=wanted.start, length=wanted.length)
            if wanted is not None
            else backend.open(target.address)
        )
        stream = await anyio.to_thread.run_sync(opener.__enter__)
    except RangeNotSatisfiable as exc:
        response = problem_response(exc, request)
        response.headers["Content-Range"] = unsatisfied_content_range(exc.size)
        return response
    except UpstreamError as exc:
        endpoint.record(target, grant, 0, "failed", error=exc.code)
        raise

    content_range = wanted.content_range() if wanted is not None else None
    headers = _headers(stream, content_range, target.sha256)

    def on_close(result: StreamResult) -> None:
        error = result.error.code if result.error is not None else None
        endpoint.record(
            target,
            grant,
            result.bytes_sent,
            result.outcome,
            content_range=content_range,
            error=error,
        )

    return DataResponse(
        MeteredStreamResponse(
            status=206 if wanted is not None else 200,
            headers=headers,
            chunks=stream.chunks,
            on_close=on_close,
            guard=endpoint.check(grant),
            check_every=endpoint.check_every,
            close=lambda: opener.__exit__(None, None, None),
        )
    )


def _headers(
    stream: ReadStream, content_range: str | None, known_sha256: str | None
) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", stream.content_type or "application/octet-stream"),
        ("Accept-Ranges", "bytes"),
        # Access-controlled data: no shared cache may keep it.
        ("Cache-Control", "private, no-store"),
    ]
    if stream.length is not None:
        headers.append(("Content-Length", str(stream.length)))
    if content_range is not None:
        headers.append(("Content-Range", content_range))
    if stream.etag:
        headers.append(("ETag", stream.etag))
    sha256 = stream.sha256 or known_sha256
    if sha256:
        headers.append(("X-Content-SHA256", sha256))
    return headers


def data_router(endpoint: DataEndpoint, prefix: str = "/data") -> APIRouter:
    """The router to mount on the provider node: ``GET {prefix}/{transfer_id}``."""
    router = APIRouter(prefix=prefix, tags=["data plane"])

    @router.get(
        "/{transfer_id}",
        response_class=Response,
        responses={
            200: {"description": "the data"},
            206: {"description": "a byte range of the data"},
            401: {"description": "no, forged or expired data token"},
            403: {"description": "token for another transfer, or agreement not in force"},
            416: {"description": "range past the end"},
        },
    )
    async def get_data(transfer_id: str, request: Request) -> Response:
        return await serve_data(endpoint, request, transfer_id)

    return router


__all__: list[str] = [
    "DataEndpoint",
    "DataResponse",
    "ResolveTransfer",
    "TransferTarget",
    "data_router",
    "serve_data",
]
