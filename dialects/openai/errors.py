"""GatewayError -> OpenAI's error body."""

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
    "not_found": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "overloaded": "server_error",
    "upstream_unreachable": "server_error",
    "timeout": "timeout",
    "api_error": "server_error",
}
_CODES = {
    "authentication": "invalid_api_key",
    "rate_limit": "rate_limit_exceeded",
    "request_too_large": "request_too_large",
}


def error_object(err: GatewayError) -> dict[str, Any]:
    return {
        "message": err.message,
        "type": _TYPES.get(err.kind, "server_error"),
        "param": err.param,
        "code": err.code or _CODES.get(err.kind),
    }


def render_error(err: GatewayError) -> HTTPResponse:
    status = 503 if err.status == 529 else err.status  # 529 is Anthropic's; OpenAI clients know 503
    return raw(msgspec.json.encode({"error": error_object(err)}), status=status, content_type="application/json")
