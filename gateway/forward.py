"""The forwarding lane: a request whose route's upstreams all speak the client's API goes there as
the client sent it, only `model` and the configured transforms patched in; the answer comes back as the
upstream sent it (errors with their status and body), streams event by event, while usage is read on the
side for metrics, limits and spend.

Retries, fallbacks, circuits, caps and deadlines are the dispatcher's (gateway.dispatch). A route that mixes
upstreams that speak the client's API with ones that do not is translated as a whole, so every attempt
sends the same request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from sanic import HTTPResponse, Request

from gateway import dispatch
from gateway.call import Call
from gateway.native import (
    MAX_FORWARDED_VALUE,
    NEVER_FORWARD,
    EventScan,
    NativeApi,
    RawBody,
    StreamScan,
    has_transforms,
    rename_model,
)
from gateway.relay import Relay, masked, passed_headers, relay, relayable
from gateway.response import raw
from gateway.router import Route, Router, Target
from unified.errors import GatewayError
from unified.provider import UpstreamStatusError
from unified.types import Request as Unified
from unified.types import Response, TextPart, Usage

log = logging.getLogger("llm_link")


class Lane:
    """One client request that may be forwarded: its raw body, what the dialect read from it, and how to
    get the unified request if an attempt has to translate after all."""

    __slots__ = ("_bodies", "_unified", "api", "body", "client_headers", "model", "note", "stream", "unified_of")

    def __init__(
        self,
        api: NativeApi,
        request: Request,
        model: str,
        stream: bool,
        unified: Callable[[], Unified],
    ) -> None:
        self.api = api
        self.model = model
        self.stream = stream
        self.body = RawBody(request.body)
        self.note = api.prepare(self.body, stream)  # what every upstream of this API needs
        self.unified_of = unified
        self._unified: Unified | None = None
        self._bodies: dict[tuple[int, str, str], bytes] | None = None  # made for a body that changes
        self.client_headers = client_headers(request, api.client_headers)

    def unified(self) -> Unified:
        if self._unified is None:
            self._unified = self.unified_of()
        return self._unified

    def body_for(self, route: Route, target: Target) -> bytes:
        """The upstream body for a target of `route`: the client's bytes with `model` and the route's
        transforms patched in (only what changes is re-encoded), in the field names the target wants."""
        model = target.model
        transforms = has_transforms(route.config)
        if model == self.model and not transforms and not self.body.changed:
            return self.body.body  # the client's own bytes, as most requests go
        bodies = self._bodies
        if bodies is None:
            bodies = self._bodies = {}
        key = (id(route), model, target.provider_name)
        body = bodies.get(key)
        if body is None:
            if model == self.model and not transforms:
                body = self.body.encode()
            else:
                patched = self.body.copy()
                if model != self.model:
                    patched.set("model", model)
                if transforms:
                    assert route.config is not None
                    self.api.apply(patched, route.config, target.param_fields)
                body = patched.encode()
            bodies[key] = body
        return body


def client_headers(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The client's headers this API forwards, plus every provider's `forward_headers` (filtered per
    provider later); never credentials, never an oversized value."""
    out: dict[str, str] = {}
    headers = request.headers
    for name in names:
        value = headers.get(name)
        if value is not None and len(value) <= MAX_FORWARDED_VALUE:
            out[name] = value
    return out


def _provider_headers(target: Target, lane: Lane, request_headers: Any) -> dict[str, str]:
    extra = target.provider.config.forward_headers
    if not extra:
        return lane.client_headers
    out = dict(lane.client_headers)
    for name in extra:
        if name.lower() in NEVER_FORWARD:
            continue
        value = request_headers.get(name)
        if value is not None and len(value) <= MAX_FORWARDED_VALUE:
            out[name] = value
    return out


class Forwarded:
    """A whole answer from the forwarding lane, passed on as the upstream sent it."""

    __slots__ = ("body", "content_type", "headers", "status", "target", "usage")

    def __init__(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers
        self.usage: Usage | None = None
        self.target: Target | None = None  # the target that answered (an upstream's answer, not an error)


def speaks(router: Router, api: str) -> bool:
    """Whether any configured provider speaks `api` natively (else the dialect skips the narrow decode)."""
    known = router.memo.get(api)
    if known is None:
        known = router.memo[api] = any(p.native_path(api) is not None for p in router.providers.values())
    return bool(known)


def reaches(route: Route, api: str) -> bool:
    """Whether every target of the route (and of its fallbacks) speaks `api` natively. A model with
    `cache: true` is translated instead: the response cache stores and replays unified answers."""
    known = route.memo.get(api)
    if known is None:
        known = route.memo[api] = not (route.config is not None and route.config.cache) and all(
            t.provider.native_path(api) is not None for r in (route, *route.fallback_routes) for t in r.targets
        )
    return bool(known)


# ---------------------------------------------------------------------------------------------- attempts


async def _native(
    call: Call, route: Route, hop: Route, target: Target, path: str, lane: Lane, deadline: float | None, headers: Any
) -> Forwarded | Relay:
    body = lane.body_for(hop, target)
    forwarded = _provider_headers(target, lane, headers)
    provider = target.provider
    cap = target.cap
    capped = cap.limit is not None  # an uncapped provider skips the cap's two awaits
    if capped:
        await cap.acquire(provider.name, deadline)
    up = dispatch._upstream(call, route, deadline)
    t0 = time.perf_counter()
    opened = False
    try:
        sending = provider.forward(path, body, forwarded, up, stream=lane.stream)
        try:
            # Without a request deadline nothing bounds the call here (the provider's own timeouts do).
            resp = await (sending if deadline is None else dispatch._bounded(sending, deadline, route, call))
        except UpstreamStatusError as err:
            err.native = True
            raise
        if not lane.stream:
            try:
                if deadline is None:
                    data = await provider.read_capped(resp)
                else:
                    data = await dispatch._bounded(_read(resp, target), deadline, route, call)
            except (TimeoutError, aiohttp.ClientError) as err:
                raise _read_failed(err, provider.name) from None
            finally:
                resp.release()
            usage, failure = lane.api.answer(data)
            if failure is not None:
                raise GatewayError("api_error", failure, status=502)
            answer = Forwarded(
                resp.status, data, resp.headers.get("Content-Type", "application/json"), passed_headers(resp)
            )
            answer.usage = usage
            answer.target = target
            return answer
        scan = lane.api.scanner(lane.note, lane.model)
        if call.trace is not None and call.trace.output is not None and isinstance(scan, EventScan):
            scan.captured = call.trace.output  # streamed text into the trace (capture_content)
            scan.text_of = lane.api.text_of
        head: list[bytes] = []
        limit = _first_token_limit(route, deadline)
        try:
            if limit is None:
                await _until_content(resp, scan, head, target)
            else:
                try:
                    async with asyncio.timeout(limit):
                        await _until_content(resp, scan, head, target)
                except TimeoutError:
                    raise GatewayError(
                        "timeout", f"no first token from {target.label} within {limit:g}s", status=504
                    ) from None
        except BaseException:
            resp.close()
            raise
        opened = True
        return Relay(resp, head, scan, target, t0)
    finally:
        if not opened:
            call.upstream_seconds += time.perf_counter() - t0
            if capped:
                await cap.release()


async def _read(resp: aiohttp.ClientResponse, target: Target) -> bytes:
    """The whole body within the provider's max_response_bytes, as on the translated lane; its failures
    named here, so that the request deadline around it (dispatch._bounded) sees only its own expiry."""
    try:
        return await target.provider.read_capped(resp)
    except (TimeoutError, aiohttp.ClientError) as err:
        raise _read_failed(err, target.provider.name) from None


def _read_failed(err: BaseException, provider: str) -> GatewayError:
    """A body read that failed: the provider's own timeout (504) or a dropped connection."""
    if isinstance(err, TimeoutError):
        return GatewayError("timeout", f"upstream {provider!r} timed out", status=504)
    return GatewayError("upstream_unreachable", f"upstream {provider!r} dropped the connection")


async def _until_content(resp: aiohttp.ClientResponse, scan: StreamScan, head: list[bytes], target: Target) -> None:
    """Read chunks until one carries content (or the stream ends); an error event before any content is
    a failed attempt, retried like an error status."""
    content = resp.content
    while True:
        try:
            chunk = await content.readany()
        except TimeoutError:
            raise GatewayError("timeout", f"upstream {target.provider.name!r} timed out", status=504) from None
        except aiohttp.ClientError:
            raise GatewayError(
                "upstream_unreachable", f"upstream {target.provider.name!r} dropped the stream"
            ) from None
        if not chunk:
            return
        out = scan.feed(chunk)
        if out:
            head.append(relayable(out, scan, target))
        if scan.has_content(chunk):
            return  # an error event after content is the client's to see, relayed as it came
        if scan.error is not None:
            raise GatewayError("api_error", masked(scan.error, target), status=502)


def _route_of(route: Route) -> dict[int, Route]:
    """Which hop (the route or a fallback) each target belongs to."""
    hops = route.memo.get(" hops")  # a key no API name can be
    if hops is None:
        hops = route.memo[" hops"] = {id(t): r for r in (route, *route.fallback_routes) for t in r.targets}
    return hops


def _native_error(err: GatewayError, call: Call) -> Forwarded | None:
    """The upstream's own error answer, when the last attempt was a forwarded one."""
    if isinstance(err, UpstreamStatusError) and err.native and err.body is not None:
        call.status = err.status
        call.error = err.message
        return Forwarded(err.status, err.body, err.content_type, err.headers)
    return None


def _attempt(
    target: Target, _: Any, deadline: float | None, call: Call, route: Route, lane: Lane, headers: Any
) -> Awaitable[Forwarded | Relay]:
    """One forwarded attempt for the dispatcher: a plain function handing back `_native`'s coroutine, so the
    attempt costs no coroutine of its own."""
    api = lane.api.name
    plans = route.memo.get(api + " plans")  # per target: its hop and upstream path for this API, worked out once
    if plans is None:
        plans = route.memo[api + " plans"] = {}
    plan = plans.get(id(target))
    if plan is None:
        path = target.provider.native_path(api)
        assert path is not None
        plan = plans[id(target)] = (_route_of(route).get(id(target), route), path)
    return _native(call, route, plan[0], target, plan[1], lane, deadline, headers)


async def complete(call: Call, route: Route, lane: Lane, headers: Any) -> HTTPResponse:
    """A non-streaming request, forwarded (with the dispatcher's retries and fallbacks), and its answer."""
    try:
        result = await dispatch._attempts(call, route, None, _attempt, call, route, lane, headers)
    except GatewayError as err:
        passed = _native_error(err, call)
        if passed is None:
            raise
        return respond(passed, call)
    assert isinstance(result, Forwarded)
    upstream_model = ""
    if result.status < 400:
        result.body, upstream_model = rename_model(result.body, lane.model)
        if result.usage is not None:
            assert result.target is not None
            dispatch.record_usage(call, result.target, result.usage)
    else:
        call.status = result.status
    if call.trace is not None:
        _traced(call, lane, upstream_model, result.body)
        call.trace.end_attempt(call)
    return respond(result, call)


def single_target(route: Route, api: str) -> tuple[Route, Target] | None:
    """Where a request sent once goes (token counts) when the route's primary speaks `api`: the first
    target, of the route and then of its fallbacks, that speaks it and whose circuit lets traffic through,
    else the primary. None when the primary does not speak `api` (the dialect translates)."""
    if route.native_path(api) is None:
        return None
    now = time.monotonic()
    first: tuple[Route, Target] | None = None
    for hop in (route, *route.fallback_routes):
        for target in hop.targets:
            if target.provider.native_path(api) is None:
                continue
            if target.circuit.available(now):
                return hop, target
            first = first or (hop, target)
    return first


async def single(call: Call, route: Route, picked: tuple[Route, Target], lane: Lane, headers: Any) -> Forwarded:
    """Forward once to the target `single_target` picked (requests such as token counts, which are not
    retried and have no translated twin on the same call)."""
    hop, target = picked
    path = target.provider.native_path(lane.api.name)
    assert path is not None
    call.provider = target.provider.name
    call.upstream_model = target.model
    call.target = target.label
    call.attempts = 1
    try:
        result = await _native(call, route, hop, target, path, lane, None, headers)
    except GatewayError as err:
        passed = _native_error(err, call)
        if passed is None:
            raise
        return passed
    assert isinstance(result, Forwarded)
    if result.status >= 400:
        call.status = result.status
    if call.trace is not None:
        call.trace.end_attempt(call)
    return result


async def open_stream(call: Call, route: Route, lane: Lane, headers: Any) -> Forwarded | Relay:
    """A streaming request: a Relay opened up to its first content, or the upstream's error answer."""
    call.stream = True
    try:
        opened = await dispatch._attempts(call, route, None, _attempt, call, route, lane, headers)
    except GatewayError as err:
        passed = _native_error(err, call)
        if passed is None:
            raise
        return passed
    if call.trace is not None and isinstance(opened, Relay):
        scan = opened.scan
        _traced(call, lane, scan.upstream_model if isinstance(scan, EventScan) else "", None)
    return opened


def _first_token_limit(route: Route, deadline: float | None) -> float | None:
    limit = route.first_token_timeout
    if deadline is not None:
        remaining = max(0.0, deadline - time.monotonic())
        limit = remaining if limit is None else min(limit, remaining)
    return limit


def _traced(call: Call, lane: Lane, upstream_model: str, answer: bytes | None) -> None:
    """What a trace records of a forwarded answer: the upstream's model name and, with capture_content,
    the prompt (decoded for this only) and the answer text."""
    trace = call.trace
    assert trace is not None
    if trace.output is None:
        trace.answered(None, upstream_model)
        return
    try:
        request: Unified | None = lane.unified()
    except GatewayError:
        request = None
    if request is None:
        trace.answered(None, upstream_model)
        return
    response = None
    if answer is not None:
        text = lane.api.text_of(answer)
        response = Response(id="", model=upstream_model, content=[TextPart(text=text)] if text else [])
    trace.answered(request, upstream_model, response)


# ---------------------------------------------------------------------------------------------- answers


def respond(result: Forwarded, call: Call) -> HTTPResponse:
    return raw(result.body, status=result.status, headers=result.headers or None, content_type=result.content_type)


def serve(request: Request, call: Call, route: Route, lane: Lane) -> Awaitable[HTTPResponse | None]:
    """Answer a request on the forwarding lane: a whole answer, or a relayed stream (None returned). A plain
    function handing back the coroutine that does it: one coroutine fewer on every request."""
    if not lane.stream:
        return complete(call, route, lane, request.headers)
    return _streamed(request, call, route, lane)


async def _streamed(request: Request, call: Call, route: Route, lane: Lane) -> HTTPResponse | None:
    opened = await open_stream(call, route, lane, request.headers)
    if isinstance(opened, Forwarded):
        return respond(opened, call)
    await relay(request, call, route, opened, lane.api)
    return None
