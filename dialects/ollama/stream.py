"""Unified stream Events -> Ollama NDJSON lines (/api/chat and /api/generate)."""

from __future__ import annotations

import time

import msgspec

from dialects.ollama.codec import done_reason, metrics, now_rfc3339, tool_calls_json
from dialects.ollama.think import ThinkSplitter
from unified.errors import GatewayError
from unified.types import (
    Event,
    Finish,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
)

_encode = msgspec.json.encode


class NDJSONEncoder:
    """Unified events -> Ollama NDJSON lines (state machine E/F): text and thinking fragments as they come,
    tool calls whole (arguments parsed into objects) just before the final `done: true` line."""

    content_type = "application/x-ndjson"

    def __init__(self, client_model: str, generate: bool, show_thinking: bool, started: float) -> None:
        self.head = b'{"model":' + _encode(client_model) + b',"created_at":"'
        self.generate = generate
        self.show_thinking = show_thinking
        self.started = started
        self.first: float | None = None
        self.calls: list[ToolCallPart] = []
        self.args: list[list[str]] = []
        self.think = ThinkSplitter()

    def _line(self, body: bytes, done: bool = False) -> bytes:
        return self.head + now_rfc3339().encode() + b'",' + body + (b',"done":true' if done else b',"done":false}\n')

    def _text(self, text: str) -> bytes:
        if self.generate:
            return self._line(b'"response":' + _encode(text))
        return self._line(b'"message":{"role":"assistant","content":' + _encode(text) + b"}")

    def _thinking(self, text: str) -> bytes:
        if not self.show_thinking or not text:
            return b""
        if self.generate:
            return self._line(b'"response":"","thinking":' + _encode(text))
        return self._line(b'"message":{"role":"assistant","content":"","thinking":' + _encode(text) + b"}")

    def _pieces(self, pieces: list[tuple[bool, str]]) -> bytes:
        out = b""
        for is_thinking, text in pieces:
            if is_thinking:
                out += self._thinking(text)
            elif text:
                out += self._text(text)
        return out

    def feed(self, event: Event) -> bytes:
        if isinstance(event, TextDelta):
            if self.first is None:
                self.first = time.perf_counter()
            return self._pieces(self.think.feed(event.text))
        if isinstance(event, ThinkingDelta):
            if self.first is None and event.text:
                self.first = time.perf_counter()
            return self._thinking(event.text)
        if isinstance(event, ToolCallStart):
            if self.first is None:
                self.first = time.perf_counter()
            self.calls.append(ToolCallPart(id=event.id, name=event.name))
            self.args.append([])
            return b""
        if isinstance(event, ToolCallDelta):
            if 0 <= event.index < len(self.args):
                self.args[event.index].append(event.arguments)
            return b""
        if isinstance(event, Finish):
            return self._finish(event)
        return b""

    def _finish(self, event: Finish) -> bytes:
        out = self._pieces(self.think.flush())
        if self.calls:
            calls = [msgspec.structs.replace(c, arguments="".join(a)) for c, a in zip(self.calls, self.args)]
            payload = _encode(tool_calls_json(calls))
            if self.generate:
                out += self._line(b'"response":"","tool_calls":' + payload)
            else:
                out += self._line(b'"message":{"role":"assistant","content":"","tool_calls":' + payload + b"}")
        body = b'"response":""' if self.generate else b'"message":{"role":"assistant","content":""}'
        tail = {
            "done_reason": done_reason(event.stop_reason),
            **metrics(event.usage, self.started, self.first, time.perf_counter()),
        }
        return out + self._line(body, done=True) + b"," + _encode(tail)[1:] + b"\n"

    def error(self, err: GatewayError) -> bytes:
        from dialects.ollama.errors import error_line

        return error_line(err)

    def ping(self) -> bytes | None:
        return None  # NDJSON has no keep-alive line Ollama clients would skip
