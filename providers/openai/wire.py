"""OpenAI Chat Completions response side: the structs its bodies, stream chunks and listings decode into,
finish reasons, usage, errors inside a 200."""

from __future__ import annotations

from typing import Any

import msgspec

from unified.errors import GatewayError
from unified.types import (
    StopReason,
    Usage,
)

# ---------------------------------------------------------------------------------------------- wire (read side)
#
# gc=False: these hold only strings, numbers, each other and plain JSON values, never a cycle, so the
# collector need not track the dozens a stream decodes.


class WireFunction(msgspec.Struct, gc=False):
    name: str | None = None
    arguments: str | None = None


class WireToolCall(msgspec.Struct, gc=False):
    index: int | None = None
    id: str | None = None
    function: WireFunction | None = None


class WireMessage(msgspec.Struct, gc=False):
    content: Any = None  # str, null, or (a few servers) a parts list
    tool_calls: list[WireToolCall] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None


class WireChoice(msgspec.Struct, gc=False):
    index: int = 0
    message: WireMessage | None = None
    delta: WireMessage | None = None
    finish_reason: str | None = None


class WirePromptDetails(msgspec.Struct, gc=False):
    cached_tokens: int | None = 0


class WireCompletionDetails(msgspec.Struct, gc=False):
    reasoning_tokens: int | None = 0


class WireUsage(msgspec.Struct, gc=False):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: WirePromptDetails | None = None
    completion_tokens_details: WireCompletionDetails | None = None


class WireCompletion(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[WireChoice] = []
    usage: WireUsage | None = None
    error: Any = None


class WireEmbedding(msgspec.Struct):
    embedding: list[float]
    index: int = 0


class WireEmbeddings(msgspec.Struct):
    data: list[WireEmbedding]
    model: str = ""
    usage: WireUsage | None = None


class WireModel(msgspec.Struct):
    id: str
    created: int = 0


class WireModels(msgspec.Struct):
    data: list[WireModel] = []


class WireDelta(msgspec.Struct, gc=False):
    """A stream chunk after the first: the id and model are read from the first chunk only."""

    choices: list[WireChoice] = []
    usage: WireUsage | None = None
    error: Any = None


decode_chunk = msgspec.json.Decoder(WireCompletion).decode
decode_delta = msgspec.json.Decoder(WireDelta).decode
encode = msgspec.json.Encoder().encode

FINISH: dict[str, StopReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "sensitive": "content_filter",  # Zhipu moderation
}


def usage_from(u: WireUsage | None) -> Usage:
    if u is None:
        return Usage()
    return Usage(
        input_tokens=u.prompt_tokens or 0,
        output_tokens=u.completion_tokens or 0,
        cache_read_tokens=(u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0,
        reasoning_tokens=(u.completion_tokens_details.reasoning_tokens or 0) if u.completion_tokens_details else 0,
    )


def finish_reason(reason: str | None, saw_tool_calls: bool) -> StopReason:
    if reason == "network_error":
        raise GatewayError("upstream_unreachable", "upstream reported a network error")
    mapped = FINISH.get(reason or "stop", "stop")
    if saw_tool_calls and mapped == "stop":
        return "tool_calls"
    return mapped


def text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def in_body_error(error: Any) -> GatewayError:
    if isinstance(error, dict):
        message = str(error.get("message") or error)
        kind = str(error.get("type") or "")
        if "rate" in kind or error.get("code") in ("rate_limit_exceeded", "limit_requests"):
            return GatewayError("rate_limit", message)
        if "invalid_request" in kind:
            return GatewayError("invalid_request", message)
        return GatewayError("api_error", message, status=502)
    return GatewayError("api_error", str(error), status=502)
