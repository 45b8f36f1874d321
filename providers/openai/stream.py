"""An OpenAI Chat Completions chunk stream (SSE) as unified Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from providers.openai.wire import WireFunction, decode_chunk, finish_reason, in_body_error, text_of, usage_from
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
    Usage,
)


async def events(resp: Any, model: str, name: str) -> AsyncIterator[Event]:
    started = False
    finish: str | None = None
    usage: Usage | None = None
    # upstream tool index -> our index (some servers start at 1 or skip)
    calls: dict[int, int] = {}
    done = False
    async for _, data in iter_sse(resp, name):
        if not data:
            yield FLUSH
            continue
        if data.startswith(b"[DONE]"):
            done = True
            break
        try:
            chunk = decode_chunk(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise GatewayError("api_error", f"upstream {name!r} sent an invalid stream chunk", status=502) from None
        if chunk.error is not None:
            raise in_body_error(chunk.error)
        if not started:
            started = True
            yield Start(id=chunk.id, model=chunk.model or model)
        if chunk.usage is not None:
            usage = usage_from(chunk.usage)
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta is not None:
                thinking = delta.reasoning_content or delta.reasoning
                if thinking:
                    yield ThinkingDelta(text=thinking)
                if delta.content:
                    text = text_of(delta.content)
                    if text:
                        yield TextDelta(text=text)
                if delta.tool_calls:
                    for tc in delta.tool_calls:
                        key = tc.index if tc.index is not None else len(calls)
                        fn = tc.function or WireFunction()
                        if key not in calls:
                            calls[key] = len(calls)
                            yield ToolCallStart(index=calls[key], id=tc.id or mint("call_"), name=fn.name or "")
                        if fn.arguments:
                            yield ToolCallDelta(index=calls[key], arguments=fn.arguments)
            if choice.finish_reason:
                finish = choice.finish_reason
    if not started:
        raise GatewayError("api_error", f"upstream {name!r} closed the stream without data", status=502)
    if not done and finish is None:
        raise GatewayError("upstream_unreachable", f"upstream {name!r} ended the stream early")
    yield Finish(stop_reason=finish_reason(finish, bool(calls)), usage=usage or Usage())
