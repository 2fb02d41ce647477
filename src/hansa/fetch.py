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

The pinning lives in an httpcore network backend (:class:`_PinningBackend`); the deadline
and the "plain HTTP only to loopback" rule reach it through a context variable set for the
duration of one request, which keeps the client safe to share between threads.

Errors: ``net.invalid_url``, ``net.insecure_scheme`` (BadRequest); ``net.forbidden_target``
(Forbidden); ``net.redirect_refused``, ``net.too_large``, ``net.tls_failed``,
``net.protocol_error``, ``net.invalid_json``, ``net.http_status`` (UpstreamError);
``net.timeout``, ``net.unreachable`` (UpstreamUnavailable).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json as jsonlib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any, Literal

import httpcore
import httpx

from hansa.errors import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    HansaError,
    UpstreamError,
    UpstreamUnavailable,
)
from hansa.settings import HttpSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HostResolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses``: how the client turns a host name into IP addresses."""

AddressKind = Literal[
    "global", "loopback", "private", "link_local", "multicast", "unspecified", "reserved"
]

USER_AGENT = "hansa/0.1 (+https://hansa.dev)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Shared address space (RFC 6598, carrier-grade NAT) is as internal as RFC 1918.
_PRIVATE_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_PRIVATE_V6 = ipaddress.IPv6Network("fc00::/7")
# IPv6 ranges whose low 32 bits are an IPv4 address a packet may end up at: NAT64,
# IPv4-compatible (deprecated) and IPv4-translated (SIIT).
_EMBEDDING_V4 = tuple(
    ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


# --- address rules (pure) ------------------------------------------------------------------


def classify_address(address: IPAddress) -> AddressKind:
    """What kind of target ``address`` is; IPv4 hidden inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and not (
        address.is_unspecified or address.is_loopback
    ):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and any(address in net for net in _EMBEDDING_V4):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = classify_address(embedded)
            # A mapped address *is* its IPv4 address; 6to4 / NAT64 route to it.
            if address.ipv4_mapped is not None or inner != "global":
                return inner
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address):
        if address in _THIS_NETWORK:
            # 0.0.0.0/8 reaches the local host on Linux.
            return "unspecified"
        if any(address in net for net in _PRIVATE_V4):
            return "private"
    elif address in _PRIVATE_V6:
        return "private"
    elif address.is_site_local or address in _LOCAL_NAT64:
        return "reserved"
    return "global" if address.is_global else "reserved"


def check_address(host: str, address: str, http: HttpSettings) -> IPAddress:
    """``address`` parsed, if ``http`` allows connecting to it; else ``net.forbidden_target``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError as exc:
        raise Forbidden(
            f"{host} resolved to {address!r}, which is not an IP address",
            code="net.forbidden_target",
            host=host,
            address=address,
        ) from exc
    kind = classify_address(ip)
    setting = {"loopback": "allow_loopback", "private": "allow_private"}.get(kind)
    if kind == "global" or (setting is not None and getattr(http, setting)):
        return ip
    fix = (
        f"set http.{setting} (HANSA_HTTP__{setting.upper()}=true) only if this node is meant "
        "to reach such addresses"
        if setting
        else "no setting allows this kind of address"
    )
    raise Forbidden(
        f"refusing to connect to {host} ({ip}): it is a {kind.replace('_', '-')} address; {fix}",
        code="net.forbidden_target",
        host=host,
        address=str(ip),
        kind=kind,
        setting=setting,
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (A and AAAA), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


# --- the per-request budget -----------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    deadline: float
    loopback_only: bool
    clock: Callable[[], float]

    def clamp(self, timeout: float | None) -> float:
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise httpcore.ReadTimeout("the request's total deadline has passed")
        return remaining if timeout is None else min(timeout, remaining)


_budget: ContextVar[_Budget | None] = ContextVar("hansa_fetch_budget", default=None)


def _clamp(timeout: float | None) -> float | None:
    budget = _budget.get()
    return timeout if budget is None else budget.clamp(timeout)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every wait ends at the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, host: str) -> None:
        self._inner = inner
        self._host = host

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            inner = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout))
        except httpcore.ConnectError as exc:
            cause = exc.__cause__
            if isinstance(cause, ssl.SSLError):
                reason = getattr(cause, "verify_message", None) or cause.reason or str(cause)
                raise UpstreamError(
                    f"TLS with {self._host} failed: {reason}; the server needs a certificate "
                    "for this name from a CA this node trusts (system CAs or http.ca_bundle)",
                    code="net.tls_failed",
                    host=self._host,
                ) from exc
            raise
        return _DeadlineStream(inner, self._host)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinningBackend(httpcore.NetworkBackend):
    """Resolves, checks every address, then connects to a checked address (never re-resolves)."""

    def __init__(self, http: HttpSettings, resolver: HostResolver) -> None:
        self._http = http
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        budget = _budget.get()
        try:
            addresses = list(self._resolver(host, port))
        except OSError as exc:
            raise UpstreamUnavailable(
                f"cannot resolve host {host}: {exc}", code="net.unreachable", host=host
            ) from exc
        if not addresses:
            raise UpstreamUnavailable(
                f"host {host} has no addresses", code="net.unreachable", host=host
            )
        checked = [check_address(host, a, self._http) for a in addresses]
        if budget is not None and budget.loopback_only:
            for ip in checked:
                if classify_address(ip) != "loopback":
                    raise BadRequest(
                        f"plain http:// is allowed only to loopback, but {host} resolves to "
                        f"{ip}; use https://",
                        code="net.insecure_scheme",
                        host=host,
                        address=str(ip),
                    )
        failure: httpcore.ConnectError | None = None
        for ip in checked:
            try:
                stream = self._inner.connect_tcp(
                    str(ip), port, _clamp(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, host)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise Forbidden("unix sockets are not fetch targets", code="net.forbidden_target")


# --- httpx transport over the pinning pool --------------------------------------------------


@contextlib.contextmanager
def _network_errors(host: str) -> Iterator[None]:
    """Turn httpcore's transport errors into ``net.*`` errors that name the host."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise UpstreamUnavailable(
            f"{host} did not answer within the time limit (http.timeout_seconds)",
            code="net.timeout",
            status=504,
            host=host,
        ) from exc
    except httpcore.NetworkError as exc:
        raise UpstreamUnavailable(
            f"cannot reach {host}: {exc or type(exc).__name__}", code="net.unreachable", host=host
        ) from exc
    except httpcore.ProtocolError as exc:
        raise UpstreamError(
            f"{host} broke the HTTP protocol: {exc}", code="net.protocol_error", host=host
        ) from exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], host: str) -> None:
        self._inner = inner
        self._host = host

    def __iter__(self) -> Iterator[bytes]:
        with _network_errors(self._host):
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _PinnedTransport(httpx.BaseTransport):
    """httpx transport over an httpcore pool that uses the pinning backend."""

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _network_errors(request.url.host):
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, request.url.host),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


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
        pool = httpcore.ConnectionPool(
            ssl_context=context,
            network_backend=_PinningBackend(http, resolver),
            max_connections=32,
            max_keepalive_connections=16,
            keepalive_expiry=30.0,
        )
        self._client = httpx.Client(
            transport=_PinnedTransport(pool),
            follow_redirects=False,
            trust_env=False,  # an environment proxy would bypass the pinning
            timeout=httpx.Timeout(http.timeout_seconds),
            # Remote parties must not be able to plant state in a client shared by all.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            headers={"User-Agent": USER_AGENT},
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
        return self._fetch(
            "POST",
            url,
            headers=merged,
            content=content,
            max_bytes=max_bytes,
            raise_for_status=raise_for_status,
        )

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
            budget = _Budget(deadline, current.scheme == "http", self._clock)
            token = _budget.set(budget)
            try:
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
            finally:
                _budget.reset(token)
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
        """One hop: a complete response, or ``(status, location)`` of a redirect."""
        request = self._client.build_request(method, url, headers=headers, content=content)
        try:
            response = self._client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    return response.status_code, location
                body = self._read_capped(response, limit, url)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            # httpx's own errors (decoding, invalid header values); the transport's are mapped.
            raise UpstreamError(
                f"bad answer from {url.host}: {exc}", code="net.protocol_error", host=url.host
            ) from exc
        return FetchedResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            content=body,
            url=str(url),
        )

    @staticmethod
    def _read_capped(response: httpx.Response, limit: int, url: httpx.URL) -> bytes:
        def too_large(size: str) -> UpstreamError:
            return UpstreamError(
                f"{url} answered with {size}, more than the limit of {limit} bytes "
                "(http.max_response_bytes)",
                code="net.too_large",
                limit=limit,
            )

        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(f"Content-Length {declared}")
        body = bytearray()
        # Decoded bytes are counted, so a compressed bomb is caught too.
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise too_large("a longer body")
        return bytes(body)
