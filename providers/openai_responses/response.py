"""OpenAI Responses API answers -> unified: a whole response object, or its SSE event stream.

Output items map to parts: `reasoning` -> ThinkingPart (summary text, `encrypted_content` kept whole),
`message` -> TextPart, `function_call` -> ToolCallPart (a namespaced one named `<namespace>__<name>`),
`custom_tool_call` -> ToolCallPart with arguments {"input": text} (the unified encoding of freeform calls).
`status` and `incomplete_details` give the stop reason; `usage` keeps cached and reasoning tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from unified.errors import GatewayError
from unified.types import (
    FLUSH,
    Event,
    Finish,
    Part,
    Response,
    Start,
    StopReason,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    Usage,
)

# ---------------------------------------------------------------------------------------------- wire


class _Part(msgspec.Struct):
    type: str = ""
    text: str | None = None
    refusal: str | None = None


class _Item(msgspec.Struct):
    type: str = ""
    id: str | None = None
    content: list[_Part] | None = None
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    input: str | None = None
    summary: list[_Part] | None = None
    encrypted_content: str | None = None


class _InputDetails(msgspec.Struct):
    cached_tokens: int | None = 0


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: int | None = 0


class _Usage(msgspec.Struct):
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None


class _Error(msgspec.Struct):
    code: str | None = None
    message: str | None = None
    type: str | None = None


class _Incomplete(msgspec.Struct):
    reason: str | None = None


class WireResponse(msgspec.Struct):
    id: str = ""
    model: str = ""
    status: str | None = None
    output: list[_Item] = []
    usage: _Usage | None = None
    error: _Error | None = None
    incomplete_details: _Incomplete | None = None


class _Event(msgspec.Struct):
    type: str = ""
    response: WireResponse | None = None
    item: _Item | None = None
    output_index: int | None = None
    delta: str | None = None
    summary_index: int | None = None
    arguments: str | None = None
    code: str | None = None
    message: str | None = None


decode_response = msgspec.json.Decoder(WireResponse).decode
_decode_event = msgspec.json.Decoder(_Event).decode
_encode = msgspec.json.Encoder().encode


# ---------------------------------------------------------------------------------------------- pieces


def usage_of(u: _Usage | None) -> Usage:
    if u is None:
        return Usage()
    return Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=(u.input_tokens_details.cached_tokens or 0) if u.input_tokens_details else 0,
        reasoning_tokens=(u.output_tokens_details.reasoning_tokens or 0) if u.output_tokens_details else 0,
    )


def failure(error: _Error | None, name: str) -> GatewayError:
    """A `response.failed` (or stream `error`) as the error the client's dialect renders."""
    code = (error.code if error else None) or ""
    message = (error.message if error else None) or f"upstream {name!r} failed the response"
    if code in ("rate_limit_exceeded", "insufficient_quota"):
        return GatewayError("rate_limit", message, code=code)
    if code in ("context_length_exceeded", "invalid_prompt") or code.startswith("invalid_"):
        return GatewayError("invalid_request", message, code=code)
    return GatewayError("api_error", message, status=502, code=code or None)


def stop_reason(resp: WireResponse, saw_calls: bool, name: str) -> StopReason:
    if resp.status == "failed":
        raise failure(resp.error, name)
    if resp.status == "incomplete":
        reason = resp.incomplete_details.reason if resp.incomplete_details else None
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if saw_calls else "stop"


def _call_name(item: _Item) -> str:
    name = item.name or ""
    return f"{item.namespace}__{name}" if item.namespace else name


def _thinking_text(item: _Item) -> str:
    parts = item.summary or [p for p in item.content or [] if p.type == "reasoning_text"]
    return "\n\n".join(p.text or "" for p in parts)


def custom_arguments(text: str) -> str:
    return _encode({"input": text}).decode()


def to_unified(resp: WireResponse, model: str, name: str) -> Response:
    content: list[Part] = []
    calls = False
    for item in resp.output:
        if item.type == "reasoning":
            text = _thinking_text(item)
            if text or item.encrypted_content:
                content.append(ThinkingPart(text=text, encrypted=item.encrypted_content))
        elif item.type == "message":
            text = "".join((p.text or "") if p.type == "output_text" else (p.refusal or "") for p in item.content or [])
            if text:
                content.append(TextPart(text=text))
        elif item.type == "function_call":
            calls = True
            content.append(ToolCallPart(id=item.call_id or "", name=_call_name(item), arguments=item.arguments or "{}"))
        elif item.type == "custom_tool_call":
            calls = True
            content.append(
                ToolCallPart(id=item.call_id or "", name=_call_name(item), arguments=custom_arguments(item.input or ""))
            )
    return Response(
        id=resp.id,
        model=resp.model or model,
        content=content,
        stop_reason=stop_reason(resp, calls, name),
        usage=usage_of(resp.usage),
    )


# ---------------------------------------------------------------------------------------------- stream


class _Call:
    __slots__ = ("custom", "index", "streamed")

    def __init__(self, index: int, custom: bool) -> None:
        self.index = index
        self.custom = custom
        self.streamed = False  # whether any argument delta came (else the .done item carries them)


async def events(sse: AsyncIterator[tuple[str | None, bytes]], model: str, name: str) -> AsyncIterator[Event]:
    """Unified events from a Responses SSE stream (the pairs `providers.sse.iter_sse` yields)."""
    started = False
    calls: dict[int, _Call] = {}  # output_index -> tool call
    thinking_streamed: set[int] = set()
    async for _, data in sse:
        if not data:
            yield FLUSH
            continue
        try:
            ev = _decode_event(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise GatewayError("api_error", f"upstream {name!r} sent an invalid stream event", status=502) from None
        kind = ev.type
        if kind == "response.created" and ev.response is not None:
            if not started:
                started = True
                yield Start(id=ev.response.id, model=ev.response.model or model)
            continue
        if not started and kind not in ("error", "response.failed"):
            started = True
            yield Start(id="", model=model)
        index = ev.output_index if ev.output_index is not None else -1
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            if ev.delta:
                yield TextDelta(text=ev.delta)
        elif kind == "response.reasoning_summary_text.delta" or kind == "response.reasoning_text.delta":
            if ev.delta:
                thinking_streamed.add(index)
                yield ThinkingDelta(text=ev.delta)
        elif kind == "response.reasoning_summary_part.added":
            if ev.summary_index:  # parts after the first are separated as in the whole response
                yield ThinkingDelta(text="\n\n")
        elif kind == "response.output_item.added" and ev.item is not None:
            item = ev.item
            if item.type in ("function_call", "custom_tool_call"):
                new = calls[index] = _Call(len(calls), item.type == "custom_tool_call")
                yield ToolCallStart(index=new.index, id=item.call_id or "", name=_call_name(item))
                if new.custom:
                    yield ToolCallDelta(index=new.index, arguments='{"input":"')
        elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
            call = calls.get(index)
            if call is not None and ev.delta:
                call.streamed = True
                text = _encode(ev.delta).decode()[1:-1] if call.custom else ev.delta
                yield ToolCallDelta(index=call.index, arguments=text)
        elif kind == "response.output_item.done" and ev.item is not None:
            async for out in _item_done(ev.item, calls.get(index), index in thinking_streamed):
                yield out
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            resp = ev.response or WireResponse(status="failed")
            yield Finish(stop_reason=stop_reason(resp, bool(calls), name), usage=usage_of(resp.usage))
            return
        elif kind == "error":
            raise failure(_Error(code=ev.code, message=ev.message), name)
    if not started:
        raise GatewayError("api_error", f"upstream {name!r} closed the stream without data", status=502)
    raise GatewayError("upstream_unreachable", f"upstream {name!r} ended the stream before response.completed")


async def _item_done(item: _Item, call: _Call | None, thinking_streamed: bool) -> AsyncIterator[Event]:
    """What only the finished item carries: encrypted reasoning, and arguments no delta brought."""
    if item.type == "reasoning":
        text = "" if thinking_streamed else _thinking_text(item)
        if text or item.encrypted_content:
            yield ThinkingDelta(text=text, encrypted=item.encrypted_content)
    elif call is not None:
        if not call.streamed:
            whole = item.input if call.custom else item.arguments
            if whole:
                text = _encode(whole).decode()[1:-1] if call.custom else whole
                yield ToolCallDelta(index=call.index, arguments=text)
        if call.custom:
            yield ToolCallDelta(index=call.index, arguments='"}')
