"""Run a unified request on a route: per-model transforms, then the provider call, timed for metrics.
Streams are opened up to their first event here, so anything that fails before the client saw a byte is
still an ordinary HTTP error."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from gateway.call import Call
from gateway.errors import GatewayError
from gateway.router import Route, Target
from gateway.unified import (
    EmbedRequest,
    EmbedResponse,
    Event,
    Finish,
    Message,
    Request,
    Response,
    TextDelta,
    TextPart,
    ToolCallStart,
)

_PARAMS = {"max_tokens", "temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty", "stop"}


def transform(route: Route, req: Request) -> Request:
    """Apply the model's defaults (where the client said nothing), overrides (always; max_tokens as a cap)
    and system prefix."""
    m = route.config
    if m is None or not (m.defaults or m.overrides or m.system_prefix or m.max_tokens):
        return req
    changes: dict[str, Any] = {}
    for key, value in m.defaults.items():
        if key in _PARAMS and getattr(req, key) is None:
            changes[key] = value
    if m.max_tokens is not None and req.max_tokens is None and "max_tokens" not in changes:
        changes["max_tokens"] = m.max_tokens
    for key, value in m.overrides.items():
        if key == "max_tokens":
            current = changes.get("max_tokens", req.max_tokens)
            changes["max_tokens"] = value if current is None else min(current, value)
        elif key in _PARAMS:
            changes[key] = value
    if m.system_prefix:
        messages = list(req.messages)
        if messages and messages[0].role == "system":
            first = messages[0]
            messages[0] = Message(role="system", content=[TextPart(text=m.system_prefix), *first.content])
        else:
            messages.insert(0, Message(role="system", content=[TextPart(text=m.system_prefix)]))
        changes["messages"] = messages
    return msgspec.structs.replace(req, **changes) if changes else req


def _pick(route: Route) -> Target:
    return route.primary


def _bind(call: Call, route: Route, target: Target) -> None:
    call.model = route.name
    call.provider = target.provider.name
    call.upstream_model = target.model
    call.attempts += 1


async def complete(call: Call, route: Route, req: Request) -> tuple[Response, Target]:
    req = transform(route, req)
    target = _pick(route)
    _bind(call, route, target)
    t0 = time.perf_counter()
    try:
        response = await target.provider.chat(req, target.model)
    finally:
        call.upstream_seconds += time.perf_counter() - t0
    call.input_tokens = response.usage.input_tokens
    call.output_tokens = response.usage.output_tokens
    return response, target


async def open_stream(call: Call, route: Route, req: Request) -> tuple[Event, AsyncIterator[Event], Target]:
    """Start the upstream stream and wait for its first event; the rest comes from the iterator."""
    req = transform(route, req)
    target = _pick(route)
    _bind(call, route, target)
    call.stream = True
    t0 = time.perf_counter()
    events = target.provider.stream(req, target.model).__aiter__()
    try:
        first = await events.__anext__()
    except StopAsyncIteration:
        raise GatewayError("api_error", "upstream ended the stream before sending anything", status=502) from None
    except BaseException:
        call.upstream_seconds += time.perf_counter() - t0
        await _close(events)
        raise
    return first, _timed(call, t0, events), target


async def _timed(call: Call, t0: float, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """Pass events on, noting the first token and the final usage; upstream time is the stream's life."""
    try:
        async for event in events:
            if call.first_token is None and isinstance(event, TextDelta | ToolCallStart):
                call.first_token = time.perf_counter()
            elif isinstance(event, Finish):
                call.input_tokens = event.usage.input_tokens
                call.output_tokens = event.usage.output_tokens
            yield event
    finally:
        call.upstream_seconds += time.perf_counter() - t0
        await _close(events)


async def _close(events: AsyncIterator[Event]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing a broken upstream stream must not mask the real error
            pass


async def embed(call: Call, route: Route, req: EmbedRequest) -> EmbedResponse:
    target = _pick(route)
    _bind(call, route, target)
    t0 = time.perf_counter()
    try:
        response = await target.provider.embed(req, target.model)
    finally:
        call.upstream_seconds += time.perf_counter() - t0
    call.input_tokens = response.input_tokens
    return response
