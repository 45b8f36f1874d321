"""Unified answers -> Responses objects: output items, usage, and the response envelope (encoded once per
request, then completed with status, output and usage; the stream encoder reuses the same pieces)."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from dialects.responses import schema as wire
from dialects.responses.codec_in import ENCRYPTED_INCLUDE, seal
from dialects.responses.tools import ToolMap, custom_input
from unified.ids import mint
from unified.types import Response, StopReason, TextPart, ThinkingPart, ToolCallPart, Usage

_encode = msgspec.json.encode


def status_of(stop: StopReason) -> tuple[bytes, bytes]:
    """(status, incomplete_details) as JSON for a unified stop reason."""
    if stop == "length":
        return b'"incomplete"', b'{"reason":"max_output_tokens"}'
    if stop == "content_filter":
        return b'"incomplete"', b'{"reason":"content_filter"}'
    return b'"completed"', b"null"


def usage_json(u: Usage) -> bytes:
    return (
        b'{"input_tokens":%d,"input_tokens_details":{"cached_tokens":%d,"cache_write_tokens":%d},'
        b'"output_tokens":%d,"output_tokens_details":{"reasoning_tokens":%d},"total_tokens":%d}'
        % (
            u.input_tokens,
            u.cache_read_tokens,
            u.cache_creation_tokens,
            u.output_tokens,
            u.reasoning_tokens,
            u.input_tokens + u.output_tokens,
        )
    )


# ---------------------------------------------------------------------------------------------- items


def text_part(text: str, quoted: bytes | None = None) -> bytes:
    """An output_text part; `quoted` = the text already JSON-encoded (long answers are encoded once)."""
    return b'{"type":"output_text","annotations":[],"logprobs":[],"text":' + (quoted or _encode(text)) + b"}"


def message_item(item_id: str, text: str, status: str = "completed", part: bytes | None = None) -> bytes:
    content = b"[" + (part or text_part(text)) + b"]" if status != "in_progress" else b"[]"
    return (
        b'{"id":"'
        + item_id.encode()
        + b'","type":"message","status":"'
        + status.encode()
        + b'","content":'
        + content
        + b',"role":"assistant"}'
    )


def reasoning_item(item_id: str, summary: str | None, encrypted: str | None) -> bytes:
    """A reasoning item; `summary` None = just added (empty summary list)."""
    out = b'{"id":"' + item_id.encode() + b'","type":"reasoning","summary":'
    out += b'[{"type":"summary_text","text":' + _encode(summary) + b"}]" if summary else b"[]"
    if encrypted is not None:
        out += b',"encrypted_content":' + _encode(encrypted)
    return out + b"}"


def call_item(
    item_id: str, call_id: str, name: str, namespace: str | None, custom: bool, payload: str, status: str
) -> bytes:
    """A function_call (payload = arguments) or custom_tool_call (payload = input) item."""
    kind, field = (b"custom_tool_call", b"input") if custom else (b"function_call", b"arguments")
    out = (
        b'{"id":"'
        + item_id.encode()
        + b'","type":"'
        + kind
        + b'","status":"'
        + status.encode()
        + b'","'
        + field
        + b'":'
        + _encode(payload)
        + b',"call_id":'
        + _encode(call_id)
        + b',"name":'
        + _encode(name)
    )
    if namespace:
        out += b',"namespace":' + _encode(namespace)
    return out + b"}"


# ---------------------------------------------------------------------------------------------- envelope


class _Static(msgspec.Struct):
    """The response object's fixed fields in the API's order (a struct encodes faster than a dict)."""

    id: str
    object: str
    created_at: int
    background: bool
    instructions: Any
    max_output_tokens: Any
    max_tool_calls: Any
    model: str
    parallel_tool_calls: bool
    previous_response_id: Any
    prompt_cache_key: Any
    reasoning: Any
    safety_identifier: Any
    service_tier: str
    store: bool
    temperature: Any
    text: Any
    tool_choice: Any
    tools: Any
    top_logprobs: Any
    top_p: Any
    truncation: Any
    user: Any
    metadata: Any


class Envelope:
    """The response object's fields that stay put for one request, encoded once."""

    __slots__ = ("created_at", "head", "id", "include_encrypted")

    def __init__(self, body: wire.ResponsesRequest, stored: bool, previous: str | None = None) -> None:
        self.id = mint("resp_", 48)
        self.created_at = int(time.time())
        self.include_encrypted = bool(body.include and ENCRYPTED_INCLUDE in body.include)
        r = body.reasoning
        fmt: Any = {"type": "text"}
        if body.text is not None and body.text.format is not None:
            fmt = body.text.format
        static = _Static(
            self.id,
            "response",
            self.created_at,
            False,
            body.instructions,
            body.max_output_tokens,
            body.max_tool_calls,
            body.model,
            body.parallel_tool_calls is not False,
            previous,
            body.prompt_cache_key,
            {
                "effort": r.effort if r is not None else None,
                "summary": (r.summary or r.generate_summary) if r is not None else None,
            },
            body.safety_identifier,
            "default",
            stored,
            body.temperature if body.temperature is not None else 1.0,
            {"format": fmt, "verbosity": (body.text.verbosity if body.text is not None else None) or "medium"},
            body.tool_choice if body.tool_choice is not None else "auto",
            body.tools or [],
            body.top_logprobs or 0,
            body.top_p if body.top_p is not None else 1.0,
            body.truncation or "disabled",
            body.user,
            body.metadata or {},
        )
        self.head = _encode(static)[:-1]  # without the closing brace

    def render(
        self,
        status: bytes,
        output: bytes = b"[]",
        usage: bytes = b"null",
        incomplete: bytes = b"null",
        error: bytes = b"null",
    ) -> bytes:
        completed_at = b"%d" % int(time.time()) if status == b'"completed"' else b"null"
        return (
            self.head
            + b',"status":'
            + status
            + b',"completed_at":'
            + completed_at
            + b',"error":'
            + error
            + b',"incomplete_details":'
            + incomplete
            + b',"output":'
            + output
            + b',"usage":'
            + usage
            + b"}"
        )


def item_ids(response_id: str) -> str:
    """The per-response stem of item ids: items of one response are `<prefix>_<stem><index>`."""
    return response_id[5:29]


def from_unified(resp: Response, env: Envelope, tmap: ToolMap) -> bytes:
    stem = item_ids(env.id)
    items: list[bytes] = []
    text: list[str] = []
    for p in resp.content:
        if isinstance(p, TextPart):
            text.append(p.text)
            continue
        if text:
            items.append(message_item(f"msg_{stem}{len(items)}", "".join(text)))
            text = []
        if isinstance(p, ThinkingPart):
            encrypted = seal(p) if env.include_encrypted else None
            if p.text or encrypted:
                items.append(reasoning_item(f"rs_{stem}{len(items)}", p.text or None, encrypted))
        elif isinstance(p, ToolCallPart):
            namespace, name = tmap.split(p.name)
            custom = tmap.is_custom(p.name)
            payload = custom_input(p.arguments) if custom else p.arguments
            prefix = "ctc" if custom else "fc"
            items.append(call_item(f"{prefix}_{stem}{len(items)}", p.id, name, namespace, custom, payload, "completed"))
    status, incomplete = status_of(resp.stop_reason)
    if text or not items:  # the last item; cut off when the answer was
        last = "completed" if status == b'"completed"' else "incomplete"
        items.append(message_item(f"msg_{stem}{len(items)}", "".join(text), last))
    return env.render(status, b"[" + b",".join(items) + b"]", usage_json(resp.usage), incomplete)
