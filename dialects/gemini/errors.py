"""GatewayError -> Google's error body `{"error": {"code", "message", "status"}}` (google.rpc.Status)."""

from __future__ import annotations

from typing import Any

import msgspec
from sanic import HTTPResponse
from sanic.response import raw

from unified.errors import GatewayError

# HTTP status -> the canonical gRPC status name Google puts beside it.
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_name(status: int) -> str:
    return _STATUS.get(status) or ("INVALID_ARGUMENT" if status < 500 else "INTERNAL")


def error_object(err: GatewayError) -> dict[str, Any]:
    return {"code": err.status, "message": err.message, "status": status_name(err.status)}


def render_error(err: GatewayError) -> HTTPResponse:
    return raw(msgspec.json.encode({"error": error_object(err)}), status=err.status, content_type="application/json")
