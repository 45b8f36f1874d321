"""GatewayError -> Ollama's error body `{"error": "..."}`."""

from __future__ import annotations

import msgspec
from sanic import HTTPResponse
from sanic.response import raw

from unified.errors import GatewayError


def error_line(err: GatewayError) -> bytes:
    """The in-stream form: one NDJSON line that ends the stream (clients check every line for `error`)."""
    return msgspec.json.encode({"error": err.message}) + b"\n"


def render_error(err: GatewayError) -> HTTPResponse:
    status = 503 if err.status == 529 else err.status  # 529 is Anthropic's own
    return raw(msgspec.json.encode({"error": err.message}), status=status, content_type="application/json")
