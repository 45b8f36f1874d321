"""GatewayError -> Anthropic's error body."""

from __future__ import annotations

from typing import Any

import msgspec
from sanic import HTTPResponse
from sanic.response import raw

from unified.errors import GatewayError

_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "upstream_unreachable": "api_error",
    "timeout": "timeout_error",
    "api_error": "api_error",
}
# Statuses with their own type whatever kind the error was filed under.
_BY_STATUS = {402: "billing_error", 413: "request_too_large", 529: "overloaded_error"}


def status_of(err: GatewayError) -> int:
    # Anthropic clients know overload as 529 (the SDK raises OverloadedError only for that status).
    return 529 if err.kind == "overloaded" else err.status


def error_object(err: GatewayError) -> dict[str, Any]:
    type_ = _BY_STATUS.get(err.status) or _TYPES.get(err.kind, "api_error")
    return {"type": type_, "message": err.message}


def render_error(err: GatewayError) -> HTTPResponse:
    body = msgspec.json.encode({"type": "error", "error": error_object(err)})
    return raw(body, status=status_of(err), content_type="application/json")
