"""Unified responses and events -> Gemini `GenerateContentResponse` bodies and `alt=sse` chunks.

Gemini reports a function call whole (id, name, args) in one part, never as argument fragments, so the
stream encoder holds a call until it is complete. The last chunk carries `finishReason` and
`usageMetadata`; Google's own streams separate events with CRLF CRLF and never send `[DONE]`."""

from __future__ import annotations

from typing import Any

import msgspec

from dialects.gemini.errors import error_object
from unified.errors import GatewayError
from unified.ids import mint
from unified.types import (
    Event,
    Finish,
    Response,
    Start,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    Usage,
    arguments_object,
)

FINISH = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}
_encode = msgspec.json.encode


def usage_metadata(u: Usage) -> dict[str, int]:
    """Gemini counts thoughts apart from the answer: candidates + thoughts = the unified output."""
    thoughts = min(u.reasoning_tokens, u.output_tokens)
    out = {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": u.output_tokens - thoughts,
        "totalTokenCount": u.input_tokens + u.output_tokens,
    }
    if u.cache_read_tokens:
        out["cachedContentTokenCount"] = u.cache_read_tokens
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    return out


def _call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"functionCall": {"id": call_id, "name": name, "args": args}}


def _thought(text: str, signature: str | None) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text, "thought": True}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _response_id(upstream_id: str) -> str:
    return upstream_id or mint("", 22)


def from_unified(resp: Response, client_model: str) -> bytes:
    parts: list[dict[str, Any]] = []
    for p in resp.content:
        if isinstance(p, TextPart):
            if p.text:
                parts.append({"text": p.text})
        elif isinstance(p, ToolCallPart):
            parts.append(_call(p.id, p.name, arguments_object(p.arguments)))
        elif isinstance(p, ThinkingPart) and not p.redacted and (p.text or p.signature):
            parts.append(_thought(p.text, p.signature))
    content: dict[str, Any] = {"role": "model"}
    if parts:
        content["parts"] = parts
    candidate = {"content": content, "finishReason": FINISH.get(resp.stop_reason, "STOP"), "index": 0}
    return _encode(
        {
            "candidates": [candidate],
            "usageMetadata": usage_metadata(resp.usage),
            "modelVersion": client_model,
            "responseId": _response_id(resp.id),
        }
    )


class ChunkEncoder:
    """Unified events -> `data: {GenerateContentResponse}` SSE chunks."""

    content_type = "text/event-stream"

    __slots__ = ("call", "head", "model", "response_id")

    def __init__(self, client_model: str) -> None:
        self.model = client_model
        self.response_id = ""
        self.head = b""  # the constant tail of every chunk: model version and response id
        self.call: list[Any] | None = None  # [id, name, argument text] of the call being assembled

    def _chunk(self, parts: list[dict[str, Any]]) -> bytes:
        if not self.head:
            self._start("")
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        return b'data: {"candidates":[' + _encode(candidate) + b"]," + self.head + b"}\r\n\r\n"

    def _start(self, upstream_id: str) -> None:
        self.response_id = _response_id(upstream_id)
        self.head = b'"modelVersion":' + _encode(self.model) + b',"responseId":' + _encode(self.response_id)

    def _flush_call(self) -> bytes:
        call = self.call
        if call is None:
            return b""
        self.call = None
        return self._chunk([_call(call[0], call[1], arguments_object(call[2]))])

    def feed(self, event: Event) -> bytes:
        if isinstance(event, ToolCallDelta):
            if self.call is not None:
                self.call[2] += event.arguments
            return b""
        out = self._flush_call()
        if isinstance(event, TextDelta):
            if event.text:
                out += self._chunk([{"text": event.text}])
        elif isinstance(event, ToolCallStart):
            self.call = [event.id, event.name, ""]
        elif isinstance(event, ThinkingDelta):
            if event.redacted is None and (event.text or event.signature):
                out += self._chunk([_thought(event.text, event.signature)])
        elif isinstance(event, Start):
            if not self.head:
                self._start(event.id)
        elif isinstance(event, Finish):
            if not self.head:
                self._start("")
            candidate = {"finishReason": FINISH.get(event.stop_reason, "STOP"), "index": 0}
            out += (
                b'data: {"candidates":['
                + _encode(candidate)
                + b'],"usageMetadata":'
                + _encode(usage_metadata(event.usage))
                + b","
                + self.head
                + b"}\r\n\r\n"
            )
        return out

    def error(self, err: GatewayError) -> bytes:
        return self._flush_call() + b'data: {"error":' + _encode(error_object(err)) + b"}\r\n\r\n"

    def ping(self) -> bytes | None:
        # None: the JS SDK (gemini-cli) reads only `data:` events and would stall on an SSE comment.
        return None
