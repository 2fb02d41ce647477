"""What the transfer process moves data with: tokens, the enforced data endpoint, pull and push.

DSP data addresses (``dataAddress`` of TransferStartMessage / TransferRequestMessage)::

    HttpData-PULL  {"@type": "DataAddress", "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
                    "endpoint": "https://provider/data/<providerPid>",
                    "endpointProperties": [{"name": "authorization", "value": "<data token>"},
                                           {"name": "authType", "value": "bearer"},
                                           {"name": "https://hansa.dev/ns/dsp#expiresAt", ...}]}
    HttpData-PUSH  the same shape from the consumer: where the provider PUTs the data
                   (an optional ``authorization`` property is sent as the Authorization header)
    AmazonS3-PUSH  {"endpointType": "AmazonS3", "endpoint": "<S3 endpoint URL, optional>",
                    "endpointProperties": [bucket, key, region]}; written with the
                   provider's own S3 credentials (never ones from the address)

Hansa extension properties of TransferCompletionMessage (the schema allows more properties):
``https://hansa.dev/ns/dsp#sha256`` (hex SHA-256 of the whole content) and
``https://hansa.dev/ns/dsp#size`` (bytes). The side that did not move the bytes itself checks
the hash where it can, and refuses a completion that does not match.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from hansa.chunk_buffers import Chunk
from hansa.connector.negotiation_checks import check_callback_address
from hansa.dataplane.backends import BackendRegistry, DataAddress, StorageBackend, WriteResult
from hansa.dataplane.errors import TRANSFER_NOT_FOUND
from hansa.dataplane.server import DataEndpoint
from hansa.dataplane.streaming import ChunkT, HashedChunks, HashingIterator
from hansa.dataplane.tokens import DataGrant, DataToken, DataTokenAuthority
from hansa.errors import BadRequest, Conflict, HansaError
from hansa.fetch import GuardedClient, HttpStatusError
from hansa.identity.wallet import Wallet

HTTP_ENDPOINT_TYPE = "https://w3id.org/idsa/v4.1/HTTP"
S3_ENDPOINT_TYPE = "AmazonS3"
HANSA_NS = "https://hansa.dev/ns/dsp#"
SHA256_PROPERTY = HANSA_NS + "sha256"
SIZE_PROPERTY = HANSA_NS + "size"
EXPIRES_PROPERTY = HANSA_NS + "expiresAt"
PULL, HTTP_PUSH, S3_PUSH = "HttpData-PULL", "HttpData-PUSH", "AmazonS3-PUSH"
TRANSFER_TYPES = (PULL, HTTP_PUSH, S3_PUSH)
TRANSFER_STOPPED = "transfer.stopped"
"""Raised inside a running pull or push when its transfer is suspended or terminated."""


class LazyTokenAuthority:
    """A :class:`DataTokenAuthority` over the wallet's signing key, built on first use.

    A node's key is created after the node is opened (first start), so the authority
    cannot be built in ``Node.open``.
    """

    def __init__(self, wallet: Wallet, did: str, audience: str, lifetime: timedelta) -> None:
        self._wallet, self._did, self._audience, self._lifetime = wallet, did, audience, lifetime
        self._authority: DataTokenAuthority | None = None
        self._lock = threading.Lock()

    def _get(self) -> DataTokenAuthority:
        with self._lock:
            if self._authority is None:
                key, private = self._wallet.signing_key()
                self._authority = DataTokenAuthority(
                    private,
                    kid=f"{self._did}#{key.id}",
                    issuer=self._did,
                    audience=self._audience,
                    lifetime=self._lifetime,
                )
            return self._authority

    def issue(self, grant: DataGrant) -> DataToken:
        """A fresh token for ``grant``."""
        return self._get().issue(grant)

    def verify(self, token: str) -> DataToken:
        """The token's grant (401 ``dataplane.token_*`` otherwise)."""
        return self._get().verify(token)


class EnforcedDataEndpoint(DataEndpoint):
    """The data endpoint whose per-chunk guard also stops when the transfer stops running."""

    def __init__(self, *, running: Callable[[str], bool], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._running = running

    def check(self, grant: DataGrant) -> Callable[[], None]:
        """Per chunk: the agreement is in force and the transfer is still STARTED."""
        agreement_guard = super().check(grant)

        def guard() -> None:
            if not self._running(grant.transfer_id):
                raise Conflict(
                    f"transfer {grant.transfer_id} was suspended or terminated",
                    code="dataplane.transfer_not_started",
                )
            agreement_guard()

        return guard


def properties(address: Mapping[str, Any] | None) -> dict[str, str]:
    """A DSP DataAddress's ``endpointProperties`` as a dict."""
    found: dict[str, str] = {}
    for entry in (address or {}).get("endpointProperties") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            found[entry["name"]] = str(entry.get("value", ""))
    return found


def pull_address(endpoint: str, token: DataToken) -> dict[str, Any]:
    """The DataAddress a pull consumer receives in TransferStartMessage."""
    return {
        "@type": "DataAddress",
        "endpointType": HTTP_ENDPOINT_TYPE,
        "endpoint": endpoint,
        "endpointProperties": [
            {"@type": "EndpointProperty", "name": "authorization", "value": token.token},
            {"@type": "EndpointProperty", "name": "authType", "value": "bearer"},
            {
                "@type": "EndpointProperty",
                "name": EXPIRES_PROPERTY,
                "value": token.expires_at.isoformat(),
            },
        ],
    }


def check_push_address(transfer_type: str, address: Any) -> dict[str, Any]:
    """The consumer's push target, checked for shape (400 ``transfer.data_address_invalid``)."""
    if not isinstance(address, dict):
        raise BadRequest(
            f"a {transfer_type} transfer needs a dataAddress: where the provider sends the data",
            code="transfer.data_address_missing",
            pointer="/dataAddress",
        )
    props = properties(address)
    if transfer_type == HTTP_PUSH:
        endpoint = address.get("endpoint")
        if address.get("endpointType") != HTTP_ENDPOINT_TYPE or not isinstance(endpoint, str):
            raise BadRequest(
                f"an HttpData-PUSH dataAddress has endpointType {HTTP_ENDPOINT_TYPE} and an "
                "https:// endpoint",
                code="transfer.data_address_invalid",
                pointer="/dataAddress/endpoint",
            )
    elif transfer_type == S3_PUSH and (
        address.get("endpointType") != S3_ENDPOINT_TYPE or not props.get("bucket")
    ):
        raise BadRequest(
            "an AmazonS3-PUSH dataAddress has endpointType AmazonS3 and the properties "
            "bucket and key (region optional)",
            code="transfer.data_address_invalid",
            pointer="/dataAddress/endpointProperties",
        )
    return dict(address)


def check_push_target(
    address: Mapping[str, Any], *, allow_loopback: bool, allow_private: bool
) -> None:
    """Refuse an HttpData push to a place this node never sends to (private networks ...).

    400 ``transfer.push_target_refused``. Host names are checked again, resolved, by the
    guarded client when the data is sent.
    """
    endpoint = address.get("endpoint")
    if address.get("endpointType") != HTTP_ENDPOINT_TYPE or not isinstance(endpoint, str):
        return
    try:
        check_callback_address(endpoint, allow_loopback=allow_loopback, allow_private=allow_private)
    except HansaError as exc:
        raise BadRequest(
            f"the push target {endpoint[:200]} is refused: {exc.detail}",
            code="transfer.push_target_refused",
            pointer="/dataAddress/endpoint",
        ) from exc


def s3_destination(address: Mapping[str, Any]) -> dict[str, Any]:
    """The S3 backend address for a DSP AmazonS3 DataAddress."""
    props = properties(address)
    destination: dict[str, Any] = {
        "type": "AmazonS3",
        "bucket": props.get("bucket", ""),
        "key": props.get("key", ""),
    }
    if props.get("region"):
        destination["region"] = props["region"]
    if address.get("endpoint"):
        destination["endpoint"] = address["endpoint"]
    return destination


def stoppable(chunks: Iterable[ChunkT], running: Callable[[], bool]) -> Iterator[ChunkT]:
    """``chunks``, raising ``transfer.stopped`` before a chunk once ``running()`` is False."""
    for chunk in chunks:
        if not running():
            raise Conflict("the transfer was suspended or terminated", code=TRANSFER_STOPPED)
        yield chunk


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def _drain(chunks: queue.Queue[object]) -> Iterator[Chunk]:
    while True:
        item = chunks.get()
        if item is _END:
            return
        if isinstance(item, _Failed):
            raise item.error  # inside the backend's write: it keeps nothing
        assert isinstance(item, (bytes, memoryview))
        yield item


class _Relayed(HashedChunks):
    """The chunks of ``source`` as they come out of the queue, hashed here for ``source``.

    Hashing in the writer thread leaves the receiving thread only the receiving. The queue
    hands the chunks on in order and ends after ``source`` has ended; then ``source``'s
    checks of the whole (a download's size and SHA-256) run, still inside the write.
    """

    def __init__(self, chunks: Iterator[Chunk], source: HashingIterator[Chunk]) -> None:
        self._chunks, self._source = chunks, source
        self._hash = source.hand_over()
        self.size = 0

    def __iter__(self) -> Iterator[Chunk]:
        for chunk in self._chunks:
            self._hash.update(chunk)
            self.size += len(chunk)
            yield chunk
        self._source.finish()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class StoppableBackend:
    """A backend whose writes stop (and keep nothing) once the transfer stops running.

    The write runs in a thread of its own, fed through a short queue, so that storing and
    hashing one chunk overlaps with receiving (and hashing) the next: a pull uses two cores.
    """

    def __init__(self, inner: StorageBackend, running: Callable[[], bool], depth: int = 4) -> None:
        self._inner, self._running, self._depth = inner, running, depth

    def write(
        self, address: DataAddress, chunks: Iterable[Chunk], *, content_type: str | None = None
    ) -> WriteResult:
        """Write through ``inner``; a stop or a failed source raises inside the write."""
        pending: queue.Queue[object] = queue.Queue(self._depth)
        outcome: dict[str, Any] = {}

        drained: Iterable[Chunk] = _drain(pending)
        if isinstance(chunks, HashingIterator) and chunks.size == 0:
            drained = _Relayed(_drain(pending), chunks)

        def store() -> None:
            try:
                outcome["result"] = self._inner.write(address, drained, content_type=content_type)
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc

        writer = threading.Thread(target=store, name="transfer-write", daemon=True)
        writer.start()

        def put(item: object) -> None:
            while writer.is_alive():
                try:
                    pending.put(item, timeout=0.5)
                    return
                except queue.Full:
                    continue

        try:
            for chunk in stoppable(chunks, self._running):
                if not writer.is_alive():
                    break
                put(chunk)
            put(_END)
        except BaseException as exc:
            put(_Failed(exc))
            writer.join()
            raise
        writer.join()
        if "error" in outcome:
            raise outcome["error"]
        result: WriteResult = outcome["result"]
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def push(
    *,
    backends: BackendRegistry,
    http: GuardedClient,
    source: DataAddress,
    transfer_type: str,
    target: Mapping[str, Any],
    running: Callable[[], bool],
) -> tuple[int, str]:
    """Send the asset at ``source`` to the consumer's ``target``; ``(size, sha256)``."""
    backend = backends.for_address(source)
    with backend.open(source) as stream:
        hashed = HashingIterator(stoppable(stream.chunks, running))
        if transfer_type == HTTP_PUSH:
            props = properties(target)
            headers = {"Content-Type": stream.content_type or "application/octet-stream"}
            if props.get("authorization"):
                scheme = props.get("authType", "bearer").capitalize()
                headers["Authorization"] = f"{scheme} {props['authorization']}"
            size = stream.length or 0
            http.put_stream(
                str(target["endpoint"]),
                hashed,
                headers,
                budget_seconds=60 + size / 1_000_000,
            )
            return hashed.size, hashed.hexdigest()
        written = backends.for_type("AmazonS3").write(
            s3_destination(target), hashed, content_type=stream.content_type
        )
        return written.size, written.sha256


def describe(error: BaseException) -> tuple[str, str]:
    """``(code, reason)`` of a failure, for a termination message."""
    if isinstance(error, HttpStatusError):
        # The counterparty's TransferError / problem names its own code and reason.
        try:
            problem = error.response.json()
        except HansaError:
            problem = None
        if isinstance(problem, dict) and problem.get("code"):
            reasons = problem.get("reason")
            reason = "; ".join(map(str, reasons)) if isinstance(reasons, list) else error.detail
            return str(problem["code"]), reason
    if isinstance(error, HansaError):
        remote = error.extra.get("remote_code")
        return (str(remote or error.code), error.detail)
    return ("transfer.failed", f"{type(error).__name__}: {error}")


__all__ = [
    "EXPIRES_PROPERTY",
    "HTTP_ENDPOINT_TYPE",
    "HTTP_PUSH",
    "PULL",
    "S3_PUSH",
    "SHA256_PROPERTY",
    "SIZE_PROPERTY",
    "TRANSFER_NOT_FOUND",
    "TRANSFER_STOPPED",
    "TRANSFER_TYPES",
    "EnforcedDataEndpoint",
    "LazyTokenAuthority",
    "StoppableBackend",
    "check_push_address",
    "check_push_target",
    "describe",
    "properties",
    "pull_address",
    "push",
    "s3_destination",
    "stoppable",
]
