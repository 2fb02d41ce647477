"""The ``AmazonS3`` backend: S3 (or an S3-compatible store) through boto3.

Reads stream ``GetObject`` bodies in 1 MiB chunks, with ``Range`` for offsets; writes up
to ``S3Config.part_size`` go up as one ``PutObject`` carrying its SHA-256 (so a later
``stat`` knows it), larger ones as a multipart upload (aborted on any failure, so no
half object and no billed orphan parts remain).

Credentials are the node's own (:class:`~hansa.dataplane.backends.S3Config`), never taken
from a data address. A data address may name an ``endpoint`` only if the node allows it
(``endpoint_url`` or ``allowed_endpoints``): boto3 connects without Hansa's fetch guard,
so an endpoint from an asset would otherwise be an SSRF. When ``access_key_id`` is unset,
boto3's own credential chain applies (instance roles on AWS).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from hansa.chunk_buffers import Chunk
from hansa.dataplane.backends import (
    CHUNK_SIZE,
    DataAddress,
    DataPlaneConfig,
    ObjectInfo,
    ReadStream,
    S3Config,
    WriteResult,
)
from hansa.dataplane.errors import (
    ENDPOINT_NOT_ALLOWED,
    BackendAuthFailed,
    BackendFailed,
    DataNotFound,
    RangeNotSatisfiable,
)
from hansa.errors import BadRequest, Forbidden, HansaError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SHA256_METADATA = "sha256"
"""User metadata (``x-amz-meta-sha256``) holding the hex SHA-256 of a single-part object."""
MIN_PART_SIZE = 5 * CHUNK_SIZE
"""S3's smallest part (except the last) of a multipart upload."""

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_AUTH = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
        "InvalidClientTokenId",
        "403",
    }
)


class S3Backend:
    """Reads and writes S3 objects (``bucket``, ``key``) with the node's credentials."""

    def __init__(self, config: S3Config, *, chunk_size: int = CHUNK_SIZE) -> None:
        self.config = config
        self.chunk_size = chunk_size
        self.part_size = max(config.part_size, MIN_PART_SIZE)
        self._clients: dict[tuple[str | None, str], S3Client] = {}
        self._lock = threading.Lock()

    # --- clients ---

    def _client(self, address: DataAddress) -> S3Client:
        endpoint = address.get("endpoint") or self.config.endpoint_url
        if endpoint != self.config.endpoint_url and endpoint not in self.config.allowed_endpoints:
            raise Forbidden(
                f"this node does not reach S3 endpoint {endpoint!r}; an operator may allow it "
                "in the data plane's S3 settings",
                code=ENDPOINT_NOT_ALLOWED,
                pointer="/endpoint",
            )
        region = str(address.get("region") or self.config.region)
        key = (endpoint, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._make_client(endpoint, region)
                self._clients[key] = client
        return client

    def _make_client(self, endpoint: str | None, region: str) -> S3Client:
        session = boto3.session.Session(
            aws_access_key_id=self.config.access_key_id,
            aws_secret_access_key=self.config.secret_access_key,
            aws_session_token=self.config.session_token,
            region_name=region,
        )
        settings = Config(
            signature_version="s3v4",
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            # S3-compatible stores are addressed by path; AWS itself by virtual host.
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        return session.client("s3", endpoint_url=endpoint, config=settings)

    @staticmethod
    def _location(address: DataAddress) -> tuple[str, str]:
        bucket, key = address.get("bucket"), address.get("key")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise BadRequest("an AmazonS3 address needs 'bucket' and 'key'", pointer="/bucket")
        return bucket, key

    # --- the interface ---

    @contextlib.contextmanager
    def open(
        self, address: DataAddress, *, offset: int = 0, length: int | None = None
    ) -> Iterator[ReadStream]:
        """Stream an object (or a range of it) from ``GetObject``."""
        client = self._client(address)
        bucket, key = self._location(address)
        if length == 0:
            info = self.stat(address)
            if offset > 0 and info.size is not None and offset >= info.size:
                raise RangeNotSatisfiable(
                    f"the range starts at byte {offset}, but the object has {info.size} bytes",
                    size=info.size,
                )
            yield ReadStream(iter(()), info.size, offset, 0, info.content_type, info.etag)
            return
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            params["Range"] = f"bytes={offset}-{last}"
        else:
            params["ChecksumMode"] = "ENABLED"
        with _translated(bucket, key, lambda: self._size(client, bucket, key)):
            answer = client.get_object(**params)
        body = answer["Body"]
        try:
            count = int(answer.get("ContentLength", 0))
            size = _total_size(answer.get("ContentRange"), count)
            yield ReadStream(
                chunks=self._chunks(body, count, bucket, key),
                size=size,
                offset=offset,
                length=count,
                content_type=answer.get("ContentType"),
                etag=answer.get("ETag"),
                sha256=_sha256_of(answer),
            )
        finally:
            body.close()

    def _chunks(self, body: Any, count: int, bucket: str, key: str) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in body.iter_chunks(self.chunk_size):
                received += len(chunk)
                yield chunk
        except (BotoCoreError, ClientError, OSError) as exc:
            raise BackendFailed(
                f"reading s3://{bucket}/{key} failed after {received} bytes: {exc}"
            ) from exc
        if received != count:
            raise BackendFailed(
                f"s3://{bucket}/{key} delivered {received} of {count} bytes; the stream was cut"
            )

    def _size(self, client: S3Client, bucket: str, key: str) -> int | None:
        try:
            return int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except (BotoCoreError, ClientError):
            return None

    def write(
        self, address: DataAddress, chunks: Iterable[Chunk], *, content_type: str | None = None
    ) -> WriteResult:
        """Upload ``chunks``: one PutObject, or a multipart upload beyond ``part_size``."""
        client = self._client(address)
        bucket, key = self._location(address)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        with _translated(bucket, key):
            try:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    buffer += chunk
                    while len(buffer) >= self.part_size:
                        if upload_id is None:
                            created = client.create_multipart_upload(
                                Bucket=bucket, Key=key, **extra
                            )
                            upload_id = created["UploadId"]
                        part = bytes(buffer[: self.part_size])
                        del buffer[: self.part_size]
                        parts.append(self._upload_part(client, bucket, key, upload_id, parts, part))
                if upload_id is None:
                    answer = client.put_object(
                        Bucket=bucket,
                        Key=key,
                        Body=bytes(buffer),
                        # S3 checks the upload against it; the metadata copy is what a
                        # later read reports (S3-compatible stores rarely return checksums).
                        ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                        Metadata={SHA256_METADATA: digest.hexdigest()},
                        **extra,
                    )
                    return WriteResult(size, digest.hexdigest(), answer.get("ETag"))
                if buffer:
                    parts.append(
                        self._upload_part(client, bucket, key, upload_id, parts, bytes(buffer))
                    )
                done = client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
                return WriteResult(size, digest.hexdigest(), done.get("ETag"))
            except BaseException:
                if upload_id is not None:
                    with contextlib.suppress(BotoCoreError, ClientError):
                        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                raise

    @staticmethod
    def _upload_part(
        client: S3Client,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[dict[str, Any]],
        data: bytes,
    ) -> dict[str, Any]:
        number = len(parts) + 1
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def stat(self, address: DataAddress) -> ObjectInfo:
        """``HeadObject``: size, type, ETag and SHA-256 where one was stored."""
        client = self._client(address)
        bucket, key = self._location(address)
        with _translated(bucket, key):
            answer = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        return ObjectInfo(
            int(answer["ContentLength"]),
            answer.get("ContentType"),
            answer.get("ETag"),
            _sha256_of(answer),
        )


@contextlib.contextmanager
def _translated(bucket: str, key: str, size_of: Any = None) -> Iterator[None]:
    """boto3's errors as ``dataplane.*`` errors."""
    where = f"s3://{bucket}/{key}"
    try:
        yield
    except HansaError:
        raise
    except NoCredentialsError as exc:
        raise BackendAuthFailed(f"no S3 credentials are configured to read {where}") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _NOT_FOUND or status == 404:
            raise DataNotFound(f"{where} does not exist ({code})") from exc
        if code in _AUTH or status == 403:
            raise BackendAuthFailed(
                f"S3 refused this node's credentials for {where} ({code}); check the data "
                "plane's S3 access key and its permissions",
                reason=code,
            ) from exc
        if code == "InvalidRange" or status == 416:
            size = size_of() if size_of is not None else None
            raise RangeNotSatisfiable(f"the range is past the end of {where}", size=size) from exc
        raise BackendFailed(f"S3 failed on {where}: {code or status}", reason=code) from exc
    except BotoCoreError as exc:
        raise BackendFailed(f"S3 failed on {where}: {exc}") from exc


def _total_size(content_range: str | None, count: int) -> int | None:
    if not content_range:
        return count
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else None


def _sha256_of(answer: Any) -> str | None:
    """The hex SHA-256 of the whole object: S3's full-object checksum, or our metadata."""
    checksum, kind = answer.get("ChecksumSHA256"), answer.get("ChecksumType")
    # A multipart object's checksum is a checksum of part checksums ("...-3"), not the data's.
    if checksum and "-" not in checksum and kind in {None, "FULL_OBJECT"}:
        with contextlib.suppress(ValueError):
            return base64.b64decode(checksum, validate=True).hex()
    stored = (answer.get("Metadata") or {}).get(SHA256_METADATA)
    if isinstance(stored, str) and len(stored) == 64:
        return stored.lower()
    return None


def create_backend(config: DataPlaneConfig) -> S3Backend:
    """Entry point ``AmazonS3``: the backend with the node's S3 settings."""
    return S3Backend(config.s3, chunk_size=config.chunk_size)
