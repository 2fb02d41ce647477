"""Address rules and the pinning transport under :class:`hansa.fetch.GuardedClient`.

The client resolves a host itself, checks *every* address (loopback, private, link-local,
multicast, reserved, IPv4 embedded in IPv6 ...) and connects to a checked address, so
there is no gap between check and connection for DNS rebinding to use; SNI, certificate
verification and ``Host`` keep the host name. This happens in an httpcore network backend
(:class:`_PinningBackend`) under an httpx transport. The request's total deadline and the
"plain HTTP only to loopback" rule reach the backend through a context variable set for
one request (:func:`request_budget`), which keeps a shared client thread-safe.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import httpcore
import httpx

from hansa.errors import BadRequest, Forbidden, UpstreamError, UpstreamUnavailable
from hansa.settings import HttpSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HostResolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses``: how the client turns a host name into IP addresses."""

AddressKind = Literal[
    "global", "loopback", "private", "link_local", "multicast", "unspecified", "reserved"
]

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
def network_errors(host: str) -> Iterator[None]:
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
        with network_errors(self._host):
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
        with network_errors(request.url.host):
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


def pinned_pool(
    http: HttpSettings, resolver: HostResolver, ssl_context: ssl.SSLContext
) -> httpcore.ConnectionPool:
    """An httpcore pool that connects only to addresses ``http`` allows (see module doc)."""
    return httpcore.ConnectionPool(
        ssl_context=ssl_context,
        network_backend=_PinningBackend(http, resolver),
        max_connections=32,
        max_keepalive_connections=16,
        keepalive_expiry=30.0,
    )


def pinned_transport(pool: httpcore.ConnectionPool) -> httpx.BaseTransport:
    """An httpx transport over ``pool`` (:func:`pinned_pool`)."""
    return _PinnedTransport(pool)


def connect(
    http: HttpSettings,
    resolver: HostResolver,
    ssl_context: ssl.SSLContext,
    url: httpx.URL,
    timeout: float,
) -> socket.socket:
    """A connection of its own to ``url``'s host by the rules of every fetch (TLS for https).

    For :mod:`hansa.fetch_stream`, which reads bodies off the socket itself. Call it
    inside :func:`request_budget`, like every request through the pinned transport.
    """
    port = url.port or (443 if url.scheme == "https" else 80)
    with network_errors(url.host):
        stream = _PinningBackend(http, resolver).connect_tcp(url.host, port, timeout)
        try:
            if url.scheme == "https":
                stream = stream.start_tls(ssl_context, server_hostname=url.host, timeout=timeout)
        except BaseException:
            stream.close()
            raise
    sock = stream.get_extra_info("socket")
    assert isinstance(sock, socket.socket)
    return sock


@contextlib.contextmanager
def request_budget(
    deadline: float, *, loopback_only: bool, clock: Callable[[], float]
) -> Iterator[None]:
    """Within this block, every connect, TLS handshake, read and write ends by ``deadline``."""
    token = _budget.set(_Budget(deadline, loopback_only, clock))
    try:
        yield
    finally:
        _budget.reset(token)
