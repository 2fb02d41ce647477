"""HTTP edge shared by every role: problem+json errors, body limits, admin authentication."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hansa.errors import BadRequest, HansaError, PayloadTooLarge, Unauthorized
from hansa.settings import Settings

PROBLEM_JSON = "application/problem+json"


def problem_response(error: HansaError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    return JSONResponse(
        error.to_problem(instance),
        status_code=error.status_code,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        where, rest = parts[0], parts[1:]
        return ("/" + "/".join(rest)) if where == "body" else f"{where}:{'.'.join(rest)}"
    return "/" + "/".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the node as RFC 9457 problem+json."""

    @app.exception_handler(HansaError)
    async def _hansa_error(request: Request, exc: HansaError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "pointer": _pointer(e.get("loc", ())),
                "detail": e.get("msg", ""),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        first = errors[0] if errors else {"pointer": "/", "detail": "invalid request"}
        error = BadRequest(
            (
                "the request body is not valid JSON"
                if malformed
                else f"{first['detail']} at {first['pointer']}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
            ),
            code="request.malformed_json" if malformed else "request.validation_failed",
            pointer=str(first["pointer"]),
            errors=errors,
        )
        if not malformed:
            error.status_code = 422
        return problem_response(error, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "request.method_not_allowed"}.get(
            exc.status_code, "request.invalid"
        )
        error = HansaError(str(exc.detail), code=code, status=exc.status_code)
        return problem_response(error, request)


class BodyLimitMiddleware:
    """Refuses request bodies larger than ``max_bytes`` (413) before they are read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(
            f"the request body exceeds the limit of {self.max_bytes} bytes",
            code="request.too_large",
        )
        body = json.dumps(error.to_problem(scope.get("path"))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def json_depth(value: Any, limit: int) -> int:
    """Depth of a JSON value; raises ``request.too_deep`` past ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise BadRequest(
                f"the JSON document is nested deeper than {limit} levels", code="request.too_deep"
            )
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


_bearer = HTTPBearer(auto_error=False)


def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Management endpoints: the node's admin API key as a bearer token."""
    settings: Settings = request.app.state.settings
    expected = settings.admin_api_key
    if expected is None:
        raise Unauthorized(
            "this node has no admin API key configured (HANSA_ADMIN_API_KEY); "
            "management endpoints are closed",
            code="auth.admin_disabled",
        )
    if credentials is None:
        raise Unauthorized(
            "send the node's admin API key as 'Authorization: Bearer <key>'",
            code="auth.missing_credentials",
        )
    if not hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("the admin API key is wrong", code="auth.invalid_credentials")


AdminAuth = Depends(require_admin)
