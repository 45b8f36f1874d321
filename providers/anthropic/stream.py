"""An Anthropic Messages event stream (SSE) as unified Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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
from providers.sse import iter_sse
from unified.errors import GatewayError
from unified.ids import mint
from unified.types import (
    FLUSH,
    Event,
    Finish,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
)


async def events(resp: Any, model: str, name: str) -> AsyncIterator[Event]:
    usage = WireUsage()
    stop: str | None = None
    stop_sequence: str | None = None
    started = False
    calls: dict[int, int] = {}  # block index -> tool-call index
    args_seen: set[int] = set()  # tool calls that received a non-empty argument fragment
    async for _, data in iter_sse(resp, name):
        if not data:
            yield FLUSH
            continue
        try:
            ev = decode_event(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise GatewayError("api_error", f"upstream {name!r} sent an invalid stream event", status=502) from None
        t = ev.type
        if t == "content_block_delta":
            d = ev.delta
            if d is None:
                continue
            if d.type == "text_delta":
                if d.text:
                    yield TextDelta(text=d.text)
            elif d.type == "input_json_delta":
                k = calls.get(ev.index if ev.index is not None else -1)
                if k is not None and d.partial_json:
                    args_seen.add(k)
                    yield ToolCallDelta(index=k, arguments=d.partial_json)
            elif d.type == "thinking_delta":
                if d.thinking:
                    yield ThinkingDelta(text=d.thinking)
            elif d.type == "signature_delta":
                if d.signature:
                    yield ThinkingDelta(signature=d.signature)
            # citations_delta and unknown delta types carry nothing we translate
        elif t == "content_block_start":
            b = ev.content_block
            if b is None:
                continue
            if b.type == "tool_use":
                k = len(calls)
                calls[ev.index if ev.index is not None else k] = k
                yield ToolCallStart(index=k, id=b.id or mint("toolu_"), name=b.name or "")
                if isinstance(b.input, dict) and b.input:  # some compatible servers send it whole
                    args_seen.add(k)
                    yield ToolCallDelta(index=k, arguments=encode(b.input).decode())
            elif b.type == "text":
                if b.text:
                    yield TextDelta(text=b.text)
            elif b.type == "thinking":
                if b.thinking:
                    yield ThinkingDelta(text=b.thinking)
            elif b.type == "redacted_thinking":
                yield ThinkingDelta(redacted=b.data or "")
        elif t == "content_block_stop":
            k = calls.get(ev.index if ev.index is not None else -1)
            if k is not None and k not in args_seen:
                args_seen.add(k)
                yield ToolCallDelta(index=k, arguments="{}")  # a no-argument call: "" means {}
        elif t == "message_start":
            m = ev.message or WireMessage()
            if m.usage is not None:
                usage = m.usage
            started = True
            yield Start(id=m.id, model=m.model or model, input_tokens=usage_from(usage).input_tokens)
        elif t == "message_delta":
            if ev.delta is not None and ev.delta.stop_reason:
                stop = ev.delta.stop_reason
                stop_sequence = ev.delta.stop_sequence
            u = ev.usage
            if u is not None:  # cumulative figures: each one present replaces the earlier
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
            yield Finish(
                stop_reason=STOP.get(stop or "end_turn", "stop"),
                usage=usage_from(usage),
                stop_sequence=stop_sequence,
            )
            return
        elif t == "error":
            e = ev.error or WireError()
            kind, status = ERROR_KINDS.get(e.type, ("api_error", 502))
            raise GatewayError(kind, e.message or e.type, status=status)
        # ping and unknown event types are ignored
    if not started:
        raise GatewayError("api_error", f"upstream {name!r} closed the stream without data", status=502)
    if stop is None:
        raise GatewayError("upstream_unreachable", f"upstream {name!r} ended the stream early")
    # message_delta came but message_stop did not: the answer is complete, finish normally
    yield Finish(stop_reason=STOP.get(stop, "stop"), usage=usage_from(usage), stop_sequence=stop_sequence)
