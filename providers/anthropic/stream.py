"""An Anthropic Messages event stream (SSE) as unified Events, frame by frame (no I/O here)."""

from __future__ import annotations

import msgspec

from providers.anthropic.wire import (
    ERROR_KINDS,
    STOP,
    WireError,
    WireMessage,
    WireUsage,
    decode_event,
    encode,
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
)


class EventDecoder:
    """Messages SSE events -> unified events (providers.sse.Decoder)."""

    __slots__ = ("args_seen", "calls", "model", "name", "started", "stop", "stop_sequence", "usage")

    def __init__(self, model: str, name: str) -> None:
        self.model = model
        self.name = name
        self.usage = WireUsage()
        self.stop: str | None = None
        self.stop_sequence: str | None = None
        self.started = False
        self.calls: dict[int, int] = {}  # block index -> tool-call index
        self.args_seen: set[int] = set()  # tool calls that received a non-empty argument fragment

    def feed(self, frame: Frame, out: list[Event]) -> bool:
        try:
            ev = decode_event(frame[1])
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise GatewayError(
                "api_error", f"upstream {self.name!r} sent an invalid stream event", status=502
            ) from None
        t = ev.type
        if t == "content_block_delta":
            d = ev.delta
            if d is None:
                return False
            if d.type == "text_delta":
                if d.text:
                    out.append(TextDelta(text=d.text))
            elif d.type == "input_json_delta":
                k = self.calls.get(ev.index if ev.index is not None else -1)
                if k is not None and d.partial_json:
                    self.args_seen.add(k)
                    out.append(ToolCallDelta(index=k, arguments=d.partial_json))
            elif d.type == "thinking_delta":
                if d.thinking:
                    out.append(ThinkingDelta(text=d.thinking))
            elif d.type == "signature_delta":
                if d.signature:
                    out.append(ThinkingDelta(signature=d.signature))
            # citations_delta and unknown delta types carry nothing we translate
        elif t == "content_block_start":
            b = ev.content_block
            if b is None:
                return False
            if b.type == "tool_use":
                calls = self.calls
                k = len(calls)
                calls[ev.index if ev.index is not None else k] = k
                out.append(ToolCallStart(index=k, id=b.id or mint("toolu_"), name=b.name or ""))
                if isinstance(b.input, dict) and b.input:  # some compatible servers send it whole
                    self.args_seen.add(k)
                    out.append(ToolCallDelta(index=k, arguments=encode(b.input).decode()))
            elif b.type == "text":
                if b.text:
                    out.append(TextDelta(text=b.text))
            elif b.type == "thinking":
                if b.thinking:
                    out.append(ThinkingDelta(text=b.thinking))
            elif b.type == "redacted_thinking":
                out.append(ThinkingDelta(redacted=b.data or ""))
        elif t == "content_block_stop":
            k = self.calls.get(ev.index if ev.index is not None else -1)
            if k is not None and k not in self.args_seen:
                self.args_seen.add(k)
                out.append(ToolCallDelta(index=k, arguments="{}"))  # a no-argument call: "" means {}
        elif t == "message_start":
            m = ev.message or WireMessage()
            if m.usage is not None:
                self.usage = m.usage
            self.started = True
            out.append(Start(id=m.id, model=m.model or self.model, input_tokens=usage_from(self.usage).input_tokens))
        elif t == "message_delta":
            if ev.delta is not None and ev.delta.stop_reason:
                self.stop = ev.delta.stop_reason
                self.stop_sequence = ev.delta.stop_sequence
            u = ev.usage
            if u is not None:  # cumulative figures: each one present replaces the earlier
                usage = self.usage
                for field in (
                    "input_tokens",
                    "output_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ):
                    value = getattr(u, field)
                    if value is not None:
                        setattr(usage, field, value)
        elif t == "message_stop":
            out.append(
                Finish(
                    stop_reason=STOP.get(self.stop or "end_turn", "stop"),
                    usage=usage_from(self.usage),
                    stop_sequence=self.stop_sequence,
                )
            )
            return True
        elif t == "error":
            e = ev.error or WireError()
            kind, status = ERROR_KINDS.get(e.type, ("api_error", 502))
            raise GatewayError(kind, e.message or e.type, status=status)
        # ping and unknown event types are ignored
        return False

    def end(self, out: list[Event]) -> None:
        if not self.started:
            raise GatewayError("api_error", f"upstream {self.name!r} closed the stream without data", status=502)
        if self.stop is None:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} ended the stream early")
        # message_delta came but message_stop did not: the answer is complete, finish normally
        out.append(
            Finish(
                stop_reason=STOP.get(self.stop, "stop"), usage=usage_from(self.usage), stop_sequence=self.stop_sequence
            )
        )
