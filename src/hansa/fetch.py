"""The one guarded outbound HTTP client: every fetch Hansa makes goes through it.

DID documents, status lists, x5u certificate chains and remote nodes are all named by
URLs that come from outside, so every fetch is a possible SSRF. The guard:

- HTTPS only; plain ``http://`` only to loopback, and only with ``allow_http_on_loopback``.
- The client resolves the host itself, checks *every* address it resolves to (loopback,
  private, link-local, multicast, reserved, IPv4 embedded in IPv6 ...) and then connects
  to the checked address, so there is no gap between the check and the connection for
  DNS rebinding to use. SNI, certificate verification and ``Host`` keep the host name.
- Redirects are followed by hand, each hop checked by the same rules.
- The body is capped while it streams (``Content-Length`` is not trusted) and the whole
  request, redirects and a slowly dripping body included, has one deadline.

The address rules and the pinning transport live in :mod:`hansa.fetch_guard`; streamed
GETs (data of any size) read their bodies straight off the socket in :mod:`hansa.fetch_stream`.

Errors: ``net.invalid_url``, ``net.insecure_scheme`` (BadRequest); ``net.forbidden_target``
(Forbidden); ``net.redirect_refused``, ``net.too_large``, ``net.tls_failed``,
``net.protocol_error``, ``net.invalid_json``, ``net.http_status`` (UpstreamError);
``net.timeout``, ``net.unreachable`` (UpstreamUnavailable).
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any

import httpcore
import httpx

from hansa.chunk_buffers import Chunk
from hansa.errors import BadRequest, ConfigurationError, HansaError, UpstreamError
from hansa.fetch_guard import (
    HostResolver,
    check_address,
    classify_address,
    connect,
    network_errors,
    pinned_pool,
    pinned_transport,
    request_budget,
    system_resolver,
)
from hansa.fetch_stream import exchange, merged_headers
from hansa.settings import HttpSettings

__all__ = [
    "FetchedResponse",
    "GuardedClient",
    "HostResolver",
    "HttpStatusError",
    "StreamedResponse",
    "check_address",
    "classify_address",
    "parse_json",
    "system_resolver",
]

USER_AGENT = "hansa/0.1 (+https://hansa.dev)"
_DEFAULT_HEADERS = {
    "user-agent": ("User-Agent", USER_AGENT),
    "accept": ("Accept", "*/*"),
    "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


# --- the client ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedResponse:
    """A complete, size-checked response. ``headers`` keys are lower case."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str

    def json(self) -> Any:
        """The body parsed as JSON (``net.invalid_json`` if it is not)."""
        return parse_json(self.content, self.url)


@dataclass(frozen=True)
class StreamedResponse:
    """A response whose body is still streaming (:meth:`GuardedClient.stream_get`).

    ``headers`` keys are lower case; ``chunks`` raises ``net.*`` errors rather than end early
    when the connection breaks (a body shorter than its ``Content-Length`` is an error).
    The chunks are ``bytes``, or lent buffers when ``stream_get`` was asked to ``lend``.
    """

    status: int
    headers: Mapping[str, str]
    url: str
    chunks: Iterator[Chunk]


class HttpStatusError(UpstreamError):
    """``net.http_status``: the remote answered with a non-2xx status (kept in ``response``)."""

    def __init__(self, response: FetchedResponse) -> None:
        super().__init__(
            f"{response.url} answered HTTP {response.status}",
            code="net.http_status",
            upstream_status=response.status,
        )
        self.response = response
        self.upstream_status = response.status


def parse_json(content: bytes, url: str) -> Any:
    """Parse a fetched body as strict JSON (UTF-8, no NaN/Infinity)."""

    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        return jsonlib.loads(content.decode("utf-8"), parse_constant=reject)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UpstreamError(
            f"{url} did not answer with valid JSON: {exc}", code="net.invalid_json", url=url
        ) from exc


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class GuardedClient:
    """The one outbound HTTP client (see module docstring). Thread-safe; close it when done."""

    def __init__(
        self,
        http: HttpSettings,
        *,
        resolver: HostResolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._clock = clock
        self._resolver = resolver
        context = ssl.create_default_context()
        if http.ca_bundle is not None:
            try:
                context.load_verify_locations(cafile=str(http.ca_bundle))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"cannot load http.ca_bundle {http.ca_bundle}: {exc}; it must be a PEM file "
                    "of CA certificates",
                    code="config.ca_bundle_invalid",
                ) from exc
        self._context = context
        self._pool = pinned_pool(http, resolver, context)
        self._client = httpx.Client(
            transport=pinned_transport(self._pool),
            follow_redirects=False,
            trust_env=False,  # an environment proxy would bypass the pinning
            timeout=httpx.Timeout(http.timeout_seconds),
            # Remote parties must not be able to plant state in a client shared by all.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            # What _read_body decodes (httpx would add br and zstd when they are installed).
            headers=dict(_DEFAULT_HEADERS.values()),
        )

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def get_bytes(
        self,
        url: str,
        *,
        accept: str = "*/*",
        max_bytes: int | None = None,
        raise_for_status: bool = True,
    ) -> FetchedResponse:
        """GET ``url`` through the guard; ``max_bytes`` overrides ``http.max_response_bytes``."""
        return self._fetch(
            "GET",
            url,
            headers={"Accept": accept},
            content=None,
            max_bytes=max_bytes,
            raise_for_status=raise_for_status,
        )

    def get_json(
        self, url: str, *, accept: str = "application/json", max_bytes: int | None = None
    ) -> Any:
        """GET ``url`` and parse its body as JSON (any 2xx)."""
        return self.get_bytes(url, accept=accept, max_bytes=max_bytes).json()

    def post_json(
        self,
        url: str,
        json: Any,
        headers: Mapping[str, str] | None = None,
        *,
        max_bytes: int | None = None,
        raise_for_status: bool = True,
    ) -> FetchedResponse:
        """POST ``json`` as JSON. ``Authorization`` is dropped on a cross-origin redirect."""
        content = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
        merged = {"Accept": "application/json", "Content-Type": "application/json"}
        merged.update(headers or {})
        return self.post_bytes(
            url, content, merged, max_bytes=max_bytes, raise_for_status=raise_for_status
        )

    def post_bytes(
        self,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        *,
        max_bytes: int | None = None,
        raise_for_status: bool = True,
    ) -> FetchedResponse:
        """POST ``content`` as is (SOAP, vp+jwt, ...), with ``headers`` naming its type."""
        return self._fetch(
            "POST",
            url,
            headers=dict(headers),
            content=content,
            max_bytes=max_bytes,
            raise_for_status=raise_for_status,
        )

    @contextlib.contextmanager
    def stream_get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        chunk_size: int = 1_048_576,
        lend: bool = False,
    ) -> Iterator[StreamedResponse]:
        """GET ``url`` through the guard and stream its body: for data sources of any size.

        The guard is the same as for every other fetch: the URL rules, the pinned and
        checked address, each redirect hop checked, ``Authorization`` dropped across
        origins. Connecting, redirects and the response head share one deadline
        (``http.timeout_seconds``). The body is *not* capped and has no total deadline,
        since a data set may be gigabytes; instead every read must make progress within
        ``http.timeout_seconds`` (an idle timeout), so a source that stalls fails with
        ``net.timeout`` rather than hang. A source dripping just fast enough is not cut:
        the caller bounds what it reads. Non-2xx answers are yielded, not raised.
        With ``lend``, the body comes in buffers lent from
        :data:`~hansa.chunk_buffers.BUFFERS` rather than copied into ``bytes``.
        """
        deadline = self._clock() + self._http.timeout_seconds
        current = self._parse_url(url, previous=None)
        sent = dict(headers or {})
        previous: httpx.URL | None = None
        for _hop in range(self._http.max_redirects + 1):
            try:
                with request_budget(
                    deadline, loopback_only=current.scheme == "http", clock=self._clock
                ):
                    sock = connect(
                        self._http,
                        self._resolver,
                        self._context,
                        current,
                        self._http.timeout_seconds,
                    )
                response = exchange(
                    sock,
                    host=current.host,
                    host_header=current.netloc.decode("ascii"),
                    target=current.raw_path,
                    headers={"User-Agent": USER_AGENT, **sent},
                    head_timeout=lambda: deadline - self._clock(),
                    idle_timeout=self._http.timeout_seconds,
                )
            except HansaError as exc:
                if previous is not None and exc.code in {
                    "net.forbidden_target",
                    "net.insecure_scheme",
                    "net.invalid_url",
                }:
                    raise UpstreamError(
                        f"{previous} redirected to {current}, which is refused: {exc.detail}",
                        code="net.redirect_refused",
                        location=str(current),
                        reason=exc.code,
                    ) from exc
                raise
            location = response.headers.get("location")
            if response.status in REDIRECT_STATUSES and location:
                response.close()
                previous, target = current, current.join(location)
                try:
                    current = self._parse_url(target, previous=previous)
                except HansaError as exc:
                    raise UpstreamError(
                        f"{previous} redirected to {str(target)[:200]}, which is refused: "
                        f"{exc.detail}",
                        code="net.redirect_refused",
                        reason=exc.code,
                    ) from exc
                if _origin(current) != _origin(previous):
                    sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
                continue
            try:
                yield StreamedResponse(
                    status=response.status,
                    headers=response.headers,
                    url=str(current),
                    chunks=response.chunks(chunk_size, lend=lend),
                )
            finally:
                response.close()
            return
        raise UpstreamError(
            f"{url} redirected more than {self._http.max_redirects} times (http.max_redirects)",
            code="net.redirect_refused",
            reason="too_many_redirects",
        )

    def put_stream(
        self,
        url: str,
        chunks: Iterable[bytes],
        headers: Mapping[str, str] | None = None,
        *,
        budget_seconds: float | None = None,
    ) -> FetchedResponse:
        """PUT a streamed body (a data push) through the guard; the answer is size-capped.

        The URL rules and the pinned, checked address are those of every fetch. A redirect
        is not followed (the body cannot be sent twice): it is ``net.redirect_refused``.
        ``budget_seconds`` bounds the whole upload (default ``http.timeout_seconds``);
        a non-2xx answer raises ``net.http_status``.
        """
        current = self._parse_url(url, previous=None)
        budget = self._http.timeout_seconds if budget_seconds is None else budget_seconds
        request = self._client.build_request(
            "PUT",
            current,
            headers={"Content-Type": "application/octet-stream", **dict(headers or {})},
            content=iter(chunks),
        )
        with request_budget(
            self._clock() + budget, loopback_only=current.scheme == "http", clock=self._clock
        ):
            try:
                response = self._client.send(request, stream=True)
                try:
                    body = self._read_capped(response, self._http.max_response_bytes, current)
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                raise UpstreamError(
                    f"bad answer from {current.host}: {exc}",
                    code="net.protocol_error",
                    host=current.host,
                ) from exc
        if response.status_code in REDIRECT_STATUSES:
            raise UpstreamError(
                f"{current} answered the upload with a redirect; uploads are not redirected",
                code="net.redirect_refused",
                reason="upload_redirect",
            )
        fetched = FetchedResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            content=body,
            url=str(current),
        )
        if not 200 <= fetched.status < 300:
            raise HttpStatusError(fetched)
        return fetched

    # --- internals ---

    def _parse_url(self, url: str | httpx.URL, *, previous: httpx.URL | None) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise BadRequest(f"{url!r} is not a valid URL: {exc}", code="net.invalid_url") from exc
        if parsed.scheme == "http":
            if not self._http.allow_http_on_loopback:
                raise BadRequest(
                    f"{parsed} uses plain http://; only https:// is allowed "
                    "(http.allow_http_on_loopback permits http to loopback for development)",
                    code="net.insecure_scheme",
                    url=str(parsed),
                )
            if previous is not None and previous.scheme == "https":
                raise BadRequest(
                    f"refusing the downgrade from https to {parsed}", code="net.insecure_scheme"
                )
        elif parsed.scheme != "https":
            raise BadRequest(
                f"{str(parsed)[:200]!r} is not an https:// URL", code="net.insecure_scheme"
            )
        if not parsed.host:
            raise BadRequest(f"{parsed} has no host", code="net.invalid_url")
        if parsed.userinfo:
            raise BadRequest(
                "URLs with user info (user@host) are not fetched: they hide the real host",
                code="net.invalid_url",
            )
        return parsed

    def _fetch(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        content: bytes | None,
        max_bytes: int | None,
        raise_for_status: bool,
    ) -> FetchedResponse:
        limit = self._http.max_response_bytes if max_bytes is None else max_bytes
        deadline = self._clock() + self._http.timeout_seconds
        current = self._parse_url(url, previous=None)
        previous: httpx.URL | None = None
        for _hop in range(self._http.max_redirects + 1):
            try:
                with request_budget(
                    deadline, loopback_only=current.scheme == "http", clock=self._clock
                ):
                    response = self._send_once(method, current, headers, content, limit)
            except HansaError as exc:
                if previous is not None and exc.code in {
                    "net.forbidden_target",
                    "net.insecure_scheme",
                    "net.invalid_url",
                }:
                    raise UpstreamError(
                        f"{previous} redirected to {current}, which is refused: {exc.detail}",
                        code="net.redirect_refused",
                        location=str(current),
                        reason=exc.code,
                    ) from exc
                raise
            if isinstance(response, FetchedResponse):
                if raise_for_status and not 200 <= response.status < 300:
                    raise HttpStatusError(response)
                return response
            status, location = response
            previous, target = current, current.join(location)
            try:
                current = self._parse_url(target, previous=previous)
            except HansaError as exc:
                raise UpstreamError(
                    f"{previous} redirected to {str(target)[:200]}, which is refused: {exc.detail}",
                    code="net.redirect_refused",
                    reason=exc.code,
                ) from exc
            if status == 303 or (status in {301, 302} and method == "POST"):
                method, content = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if _origin(current) != _origin(previous):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise UpstreamError(
            f"{url} redirected more than {self._http.max_redirects} times (http.max_redirects)",
            code="net.redirect_refused",
            reason="too_many_redirects",
        )

    def _send_once(
        self,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        content: bytes | None,
        limit: int,
    ) -> FetchedResponse | tuple[int, str]:
        """One hop: a complete response, or ``(status, location)`` of a redirect.

        Straight through the pinned httpcore pool, not httpx: a node sends several small
        requests per protocol exchange, and httpx's request and header models cost as much
        again as httpcore's own work (0.34 against 0.19 ms of CPU per POST here).
        """
        sent = {"host": ("Host", url.netloc.decode("ascii")), **_DEFAULT_HEADERS}
        sent.update((name.lower(), (name, value)) for name, value in headers.items())
        if content is not None:
            sent["content-length"] = ("Content-Length", str(len(content)))
        timeout = self._http.timeout_seconds
        request = httpcore.Request(
            method,
            httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=[
                (name.encode("latin-1"), value.encode("latin-1")) for name, value in sent.values()
            ],
            content=content,
            extensions={
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
            },
        )
        with network_errors(url.host):
            response = self._pool.handle_request(request)
            try:
                received = merged_headers(response.headers)
                location = received.get("location")
                if response.status in REDIRECT_STATUSES and location:
                    return response.status, location
                assert isinstance(response.stream, Iterable)
                body = _read_body(response.stream, received, limit, url)
            finally:
                response.close()
        return FetchedResponse(status=response.status, headers=received, content=body, url=str(url))

    @staticmethod
    def _read_capped(response: httpx.Response, limit: int, url: httpx.URL) -> bytes:
        """An httpx response's body (put_stream), decoded and capped like every other."""
        headers = {k.lower(): v for k, v in response.headers.items()}
        return _read_body(response.iter_raw(), headers, limit, url)


def _read_body(
    pieces: Iterable[bytes], headers: Mapping[str, str], limit: int, url: httpx.URL
) -> bytes:
    """The body, decoded (gzip, deflate), refused once it is longer than ``limit``."""

    def too_large(size: str) -> UpstreamError:
        return UpstreamError(
            f"{url} answered with {size}, more than the limit of {limit} bytes "
            "(http.max_response_bytes)",
            code="net.too_large",
            limit=limit,
        )

    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(f"Content-Length {declared}")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        decoder: Any = zlib.decompressobj(zlib.MAX_WBITS | 16)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding in ("", "identity"):
        decoder = None
    else:
        raise UpstreamError(
            f"{url} answered with Content-Encoding {encoding[:40]!r}, which was not asked for",
            code="net.protocol_error",
            host=url.host,
        )
    body = bytearray()
    try:
        for piece in pieces:
            # Decoded bytes are counted (at most one byte past the limit is inflated), so a
            # compressed bomb is caught too.
            body += decoder.decompress(piece, limit + 1 - len(body)) if decoder else piece
            if len(body) > limit or (decoder is not None and decoder.unconsumed_tail):
                raise too_large("a longer body")
        if decoder is not None:
            body += decoder.flush()
            if len(body) > limit:
                raise too_large("a longer body")
    except zlib.error as exc:
        raise UpstreamError(
            f"{url} sent a body that is not valid {encoding}: {exc}",
            code="net.protocol_error",
            host=url.host,
        ) from exc
    return bytes(body)
