"""Unified events -> Gemini `alt=sse` chunks (`data: {GenerateContentResponse}`).

Gemini reports a function call whole (id, name, args) in one part, never as argument fragments, so the
encoder holds a call until it is complete. The last chunk carries `finishReason` and `usageMetadata`;
Google's own streams separate events with CRLF CRLF and never send `[DONE]`."""

from __future__ import annotations

from typing import Any

import msgspec

from dialects.gemini.codec import FINISH, call_part, response_id, thought_part, usage_metadata
from dialects.gemini.errors import error_object
from unified.errors import GatewayError
from unified.types import (
    Event,
    Finish,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    arguments_object,
)

_encode = msgspec.json.encode
_TEXT_HEAD = b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":'


class ChunkEncoder:
    """Unified events -> `data: {GenerateContentResponse}` SSE chunks."""

    content_type = "text/event-stream"

    __slots__ = ("call", "head", "model", "response_id", "text_tail")

    def __init__(self, client_model: str) -> None:
        self.model = client_model
        self.response_id = ""
        self.head = b""  # the constant tail of every chunk: model version and response id
        self.text_tail = b""  # what follows the text in a text chunk, built once per stream
        self.call: list[Any] | None = None  # [id, name, argument text] of the call being assembled

    def _chunk(self, parts: list[dict[str, Any]]) -> bytes:
        if not self.head:
            self._start("")
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        return b'data: {"candidates":[' + _encode(candidate) + b"]," + self.head + b"}\r\n\r\n"

    def _start(self, upstream_id: str) -> None:
        self.response_id = response_id(upstream_id)
        self.head = b'"modelVersion":' + _encode(self.model) + b',"responseId":' + _encode(self.response_id)
        self.text_tail = b'}]},"index":0}],' + self.head + b"}\r\n\r\n"

    def _flush_call(self) -> bytes:
        call = self.call
        if call is None:
            return b""
        self.call = None
        return self._chunk([call_part(call[0], call[1], arguments_object(call[2]))])

    def feed(self, event: Event) -> bytes:
        if isinstance(event, ToolCallDelta):
            if self.call is not None:
                self.call[2] += event.arguments
            return b""
        out = self._flush_call()
        if isinstance(event, TextDelta):
            if event.text:  # the common case, written without building a dict
                if not self.head:
                    self._start("")
                out += _TEXT_HEAD + _encode(event.text) + self.text_tail
        elif isinstance(event, ToolCallStart):
            self.call = [event.id, event.name, ""]
        elif isinstance(event, ThinkingDelta):
            if event.redacted is None and (event.text or event.signature):
                out += self._chunk([thought_part(event.text, event.signature)])
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
