"""An OpenAI Chat Completions chunk stream (SSE) as unified Events, frame by frame (no I/O here)."""

from __future__ import annotations

import msgspec

from providers.openai.wire import (
    WireCompletion,
    WireDelta,
    WireFunction,
    WireToolCall,
    decode_chunk,
    decode_delta,
    finish_reason,
    in_body_error,
    text_of,
    usage_from,
)
from providers.sse import Frame
from unified.errors import GatewayError
from unified.ids import mint
from unified.types import (
    Event,
    Finish,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


class ChunkDecoder:
    """Chat Completions SSE chunks -> unified events (providers.sse.Decoder)."""

    __slots__ = ("calls", "finish", "model", "name", "started", "usage")

    def __init__(self, model: str, name: str) -> None:
        self.model = model
        self.name = name
        self.started = False
        self.finish: str | None = None
        self.usage: Usage | None = None
        # upstream tool index -> our index (some servers start at 1 or skip)
        self.calls: dict[int, int] = {}

    def feed(self, frame: Frame, out: list[Event]) -> bool:
        data = frame[1]
        try:
            chunk: WireCompletion | WireDelta = decode_delta(data) if self.started else decode_chunk(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            if data[:6] == b"[DONE]":  # not JSON: looked for only once a chunk failed to decode
                self._finish(out, True)
                return True
            raise GatewayError(
                "api_error", f"upstream {self.name!r} sent an invalid stream chunk", status=502
            ) from None
        if chunk.error is not None:
            raise in_body_error(chunk.error)
        if not self.started:
            assert isinstance(chunk, WireCompletion)
            self.started = True
            out.append(Start(id=chunk.id, model=chunk.model or self.model))
        if chunk.usage is not None:
            self.usage = usage_from(chunk.usage)
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta is not None:
                thinking = delta.reasoning_content or delta.reasoning
                if thinking:
                    out.append(ThinkingDelta(thinking))
                content = delta.content
                if content:
                    text = content if type(content) is str else text_of(content)
                    if text:
                        out.append(TextDelta(text))
                if delta.tool_calls:
                    self._calls(delta.tool_calls, out)
            if choice.finish_reason:
                self.finish = choice.finish_reason
        return False

    def _calls(self, tool_calls: list[WireToolCall], out: list[Event]) -> None:
        calls = self.calls
        for tc in tool_calls:
            key = tc.index if tc.index is not None else len(calls)
            fn = tc.function or WireFunction()
            if key not in calls:
                calls[key] = len(calls)
                out.append(ToolCallStart(index=calls[key], id=tc.id or mint("call_"), name=fn.name or ""))
            if fn.arguments:
                out.append(ToolCallDelta(index=calls[key], arguments=fn.arguments))

    def end(self, out: list[Event]) -> None:
        self._finish(out, False)

    def _finish(self, out: list[Event], done: bool) -> None:
        if not self.started:
            raise GatewayError("api_error", f"upstream {self.name!r} closed the stream without data", status=502)
        if not done and self.finish is None:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} ended the stream early")
        out.append(Finish(stop_reason=finish_reason(self.finish, bool(self.calls)), usage=self.usage or Usage()))
