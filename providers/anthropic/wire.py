"""Anthropic Messages response side: the structs its bodies and stream events decode into, stop reasons,
in-stream error types, usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from unified.types import (
    StopReason,
    Usage,
)

# ---------------------------------------------------------------------------------------------- wire (read side)


class WireUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class WireBlock(msgspec.Struct):
    """Any content block; fields of the types we do not translate are simply absent."""

    type: str
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class WireMessage(msgspec.Struct):
    type: Literal["message"] = "message"  # a 200 carrying {"type": "error"} fails here: a 502 with its message
    id: str = ""
    model: str = ""
    content: list[WireBlock] = []
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: WireUsage | None = None


class WireDelta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class WireError(msgspec.Struct):
    type: str = "api_error"
    message: str = ""


class WireEvent(msgspec.Struct):
    type: str
    message: WireMessage | None = None
    index: int | None = None
    content_block: WireBlock | None = None
    delta: WireDelta | None = None
    usage: WireUsage | None = None
    error: WireError | None = None


class WireCount(msgspec.Struct):
    input_tokens: int


class WireModel(msgspec.Struct):
    id: str
    created_at: str | None = None


class WireModels(msgspec.Struct):
    data: list[WireModel] = []


decode_event = msgspec.json.Decoder(WireEvent).decode
encode = msgspec.json.Encoder().encode

STOP: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop_sequence",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
}
# In-stream error types -> (kind, status), for failures reported after a 200
ERROR_KINDS = {
    "invalid_request_error": ("invalid_request", 400),
    "authentication_error": ("authentication", 401),
    "permission_error": ("permission", 403),
    "not_found_error": ("not_found", 404),
    "request_too_large": ("request_too_large", 413),
    "rate_limit_error": ("rate_limit", 429),
    "overloaded_error": ("overloaded", 529),
    "timeout_error": ("timeout", 504),
}


def usage_from(u: WireUsage | None) -> Usage:
    """Anthropic's input_tokens excludes cache reads and writes; the unified figure includes them."""
    if u is None:
        return Usage()
    cache_read = u.cache_read_input_tokens or 0
    cache_write = u.cache_creation_input_tokens or 0
    return Usage(
        input_tokens=(u.input_tokens or 0) + cache_read + cache_write,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_write,
    )


def created_at(ts: str | None) -> int:
    if not ts:
        return 0
    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
