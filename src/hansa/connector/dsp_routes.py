"""What the DSP negotiation and transfer endpoints share: errors answered as DSP error bodies.

Both protocols answer every failure with a body that is a DSP error message (naming the
provider and consumer pids) and an RFC 9457 problem at once; only the message type differs,
so each API subclasses :class:`DspErrorRoute` and supplies :meth:`DspErrorRoute.error_body`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from hansa.errors import BadRequest, HansaError


def validation_error(exc: RequestValidationError) -> BadRequest:
    """The Hansa error for a request FastAPI could not parse into the handler's arguments."""
    first = exc.errors()[0] if exc.errors() else {}
    malformed = first.get("type") == "json_invalid"
    return BadRequest(
        "the request body is not valid JSON"
        if malformed
        else f"the request is not a valid message: {first.get('msg', '')}",
        code="request.malformed_json" if malformed else "dsp.invalid_message",
    )


async def request_pids(
    request: Request, callback_path: str, provider: Any = None, consumer: Any = None
) -> tuple[str, str]:
    """The provider and consumer pids an error answer names.

    ``provider``/``consumer`` (already known, e.g. from the error) win over the body's
    ``providerPid``/``consumerPid``, which win over the path's pid (the consumer's on
    callback paths under ``callback_path``, the provider's otherwise).
    """
    try:
        sent = json.loads(await request.body() or b"null")
    except ValueError:
        sent = None
    if isinstance(sent, dict):
        provider = provider or sent.get("providerPid")
        consumer = consumer or sent.get("consumerPid")
    pid = request.path_params.get("pid")
    if pid and request.url.path.startswith(callback_path):
        consumer = consumer or pid
    elif pid:
        provider = provider or pid
    # The schema wants strings; an unknown pid is the empty string.
    return (
        provider if isinstance(provider, str) else "",
        consumer if isinstance(consumer, str) else "",
    )


class DspErrorRoute(APIRoute):
    """A route whose errors answer as DSP error bodies; subclasses say which body."""

    callback_path: str = ""

    def error_body(
        self, error: HansaError, *, provider_pid: str, consumer_pid: str, instance: str
    ) -> dict[str, Any]:
        """The DSP error body (also an RFC 9457 problem) for ``error``."""
        raise NotImplementedError

    def known_pids(self, error: HansaError) -> tuple[Any, Any]:
        """Pids the error itself names (provider, consumer); ``None`` when it names none."""
        return None, None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HansaError as exc:
                error = exc
            except RequestValidationError as exc:
                error = validation_error(exc)
            provider_pid, consumer_pid = await request_pids(
                request, self.callback_path, *self.known_pids(error)
            )
            body = self.error_body(
                error,
                provider_pid=provider_pid,
                consumer_pid=consumer_pid,
                instance=request.url.path,
            )
            headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
            return JSONResponse(body, status_code=error.status_code, headers=headers)

        return route


class ProcessViews(Protocol):
    """A DSP process service as the management API reads it."""

    def view(self, pid: str) -> dict[str, Any]: ...

    def wait(self, pid: str, states: tuple[str, ...], timeout: float) -> dict[str, Any]: ...


def view_or_wait(
    service: ProcessViews, pid: str, wait_for: str | None, timeout: float
) -> dict[str, Any]:
    """Process ``pid`` now, or once it reaches one of the comma-separated ``wait_for`` states."""
    if wait_for:
        states = tuple(s.strip().upper() for s in wait_for.split(",") if s.strip())
        return service.wait(pid, states, timeout)
    return service.view(pid)


__all__ = ["DspErrorRoute", "ProcessViews", "request_pids", "validation_error", "view_or_wait"]
