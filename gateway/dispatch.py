"""Run a unified request on a route: per-model transforms, target choice, retries, fallbacks, circuit
breaking and deadlines, then the provider call, timed for metrics.

Streams are opened up to their first content event here, so anything that fails before the client saw a
byte (including a first token that comes too late) is still retried or turned into an ordinary HTTP error;
after the first byte nothing is retried (no double billing of an answered stream)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from gateway import affinity, dropped
from gateway.call import Call
from gateway.circuit import counts_as_failure
from gateway.config.schema import MODEL_PARAMS
from gateway.router import Route, Router, Target
from unified.errors import GatewayError
from unified.provider import ModelInfo, Upstream
from unified.redact import mask_error
from unified.types import (
    EmbedRequest,
    EmbedResponse,
    Finish,
    Message,
    Request,
    Response,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCallStart,
    Usage,
)

T = TypeVar("T")

_CONTENT = (TextDelta, ThinkingDelta, ToolCallStart, Finish)
BACKOFF_BASE = 0.2
BACKOFF_CAP = 5.0
RETRY_AFTER_CAP = 30.0  # without a deadline, never sleep longer than this for one Retry-After


def _body_fields(
    defaults: dict[str, Any], overrides: dict[str, Any], extra: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The model's settings that are no shared parameter (e.g. DeepSeek's `thinking`), as body fields for
    OpenAI-compatible upstreams (Request.extra): a default where the client sent none, an override always.
    None when there are none."""
    own = [k for k in defaults if k not in MODEL_PARAMS] + [k for k in overrides if k not in MODEL_PARAMS]
    if not own:
        return None
    fields = dict(extra or {})
    for key, value in defaults.items():
        if key not in MODEL_PARAMS:
            fields.setdefault(key, value)
    for key, value in overrides.items():
        if key not in MODEL_PARAMS:
            fields[key] = value
    return fields


def transform(route: Route, req: Request) -> Request:
    """Apply the model's defaults (where the client said nothing), overrides (always; max_tokens as a cap)
    and system prefix."""
    m = route.config
    if m is None or not (m.defaults or m.overrides or m.system_prefix or m.max_tokens):
        return req
    changes: dict[str, Any] = {}
    for key, value in m.defaults.items():
        if key in MODEL_PARAMS and getattr(req, key) is None:
            changes[key] = value
    if m.max_tokens is not None and req.max_tokens is None and "max_tokens" not in changes:
        changes["max_tokens"] = m.max_tokens
    for key, value in m.overrides.items():
        if key == "max_tokens":
            current = changes.get("max_tokens", req.max_tokens)
            changes["max_tokens"] = value if current is None else min(current, value)
        elif key in MODEL_PARAMS:
            changes[key] = value
    fields = _body_fields(m.defaults, m.overrides, req.extra)
    if fields is not None:
        changes["extra"] = fields
    if m.system_prefix:
        messages = list(req.messages)
        if messages and messages[0].role == "system":
            first = messages[0]
            messages[0] = Message(role="system", content=[TextPart(text=m.system_prefix), *first.content])
        else:
            messages.insert(0, Message(role="system", content=[TextPart(text=m.system_prefix)]))
        changes["messages"] = messages
    return msgspec.structs.replace(req, **changes) if changes else req


def choose(route: Route, tried: list[Target], now: float, ranked: list[Target] | None = None) -> Target:
    """Weighted random among healthy targets not tried yet; then healthy ones again; ejected ones only
    when nothing is healthy. With a session's rendezvous order (`ranked`), the same in that order."""
    targets = route.targets
    if len(targets) == 1:
        return targets[0]
    if ranked is not None:
        return affinity.pick(ranked, tried, now)
    healthy = [t for t in targets if t.circuit.available(now)]
    pool = [t for t in healthy if t not in tried] or healthy or [t for t in targets if t not in tried] or targets
    if len(pool) == 1:
        return pool[0]
    return random.choices(pool, weights=[t.weight for t in pool])[0]


def _retry_after(err: GatewayError) -> float | None:
    for name, value in err.headers.items():
        lname = name.lower()
        try:
            if lname == "retry-after-ms":
                return float(value) / 1000
            if lname == "retry-after":
                return float(value)
        except ValueError:
            return None
    return None


def _backoff(attempt: int, err: GatewayError | None, same_target: bool, deadline: float | None) -> float:
    """Pause before the next attempt: none when switching targets, else exponential with jitter, at least
    the upstream's Retry-After, never past the deadline."""
    if not same_target or err is None:
        return 0.0
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
    hint = _retry_after(err)
    if hint is not None:
        delay = max(delay, min(hint, RETRY_AFTER_CAP))
    if deadline is not None:
        delay = min(delay, max(0.0, deadline - time.monotonic()))
    return delay


def _deadline_error(route: Route, attempts: int, last: GatewayError | None) -> GatewayError:
    detail = f" (last error: {last.message})" if last is not None else ""
    return GatewayError(
        "timeout",
        f"request deadline of {route.timeout:g}s for model {route.name!r} exceeded after {attempts} attempt(s){detail}",
        status=504,
    )


async def _attempts(
    call: Call,
    route: Route,
    req: Request | None,
    attempt: Callable[..., Awaitable[T]],
    *args: Any,
) -> T:
    """Try the route's targets, then each fallback model's, until one answers. `attempt(target, req,
    deadline, *args)` runs one attempt (a plain function may hand back its coroutine: no extra layer)."""
    metrics = getattr(call, "metrics", None)
    deadline = time.monotonic() + route.timeout if route.timeout else None
    last: GatewayError | None = None
    hops = route.memo.get(" chain")  # a key no API name can be
    if hops is None:
        hops = route.memo[" chain"] = (route, *route.fallback_routes)
    for hop, current in enumerate(hops):
        if hop and metrics is not None and last is not None:
            metrics.child(metrics.retries, route.metric_name, "fallback", last.kind).inc()
        hop_req = transform(current, req) if req is not None else None
        tried: list[Target] = []
        # `affinity: session`: this session's order of the targets, computed once per hop
        rendezvous = current.rendezvous
        ranked = rendezvous.rank(call.session) if rendezvous is not None and call.session is not None else None
        targets = current.targets
        for n in range(1 + max(0, current.retries)):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise _deadline_error(route, call.attempts, last)
            target = targets[0] if len(targets) == 1 else choose(current, tried, now, ranked)
            if n:
                if metrics is not None and last is not None:
                    metrics.child(metrics.retries, route.metric_name, "retry", last.kind).inc()
                pause = _backoff(n, last, target is tried[-1], deadline)
                if pause:
                    await asyncio.sleep(pause)
                    now = time.monotonic()
            tried.append(target)
            call.provider = target.provider.name
            call.upstream_model = target.model
            call.upstream_label = target.metric_model
            call.target = target.header_label
            call.attempts += 1
            circuit = target.circuit
            circuit.acquire(now)
            trace = call.trace
            if trace is not None:
                trace.start_attempt(call, target, route.headers)
            try:
                result = await attempt(target, hop_req, deadline, *args)
            except GatewayError as err:
                mask_error(err, getattr(target.provider, "redact", None))  # upstream text: keys masked
                if trace is not None:
                    trace.fail_attempt(err)
                _record(call, target, err)
                if not err.retryable:
                    raise
                last = err
                continue
            except asyncio.CancelledError as cancel:
                if trace is not None:
                    trace.fail_attempt(cancel)
                circuit.release()
                raise
            circuit.success()
            _observe_attempt(call, target, "ok")
            return result
    if deadline is not None and time.monotonic() >= deadline:
        raise _deadline_error(route, call.attempts, last)
    assert last is not None
    raise last


def _record(call: Call, target: Target, err: GatewayError) -> None:
    if counts_as_failure(err):
        target.circuit.failure(time.monotonic())
    else:
        target.circuit.release()
    _observe_attempt(call, target, err.kind)


def _observe_attempt(call: Call, target: Target, outcome: str) -> None:
    metrics = getattr(call, "metrics", None)
    if metrics is None:
        return
    metrics.child(metrics.attempts, target.provider.name, target.metric_model, outcome).inc()
    circuit = target.circuit
    if circuit.is_open != circuit.reported_open:  # the gauge is written on changes only
        circuit.reported_open = circuit.is_open
        metrics.child(metrics.circuit_state, target.provider.name, target.metric_model).set(1 if circuit.is_open else 0)


async def _bounded(awaitable: Awaitable[T], deadline: float | None, route: Route, call: Call) -> T:
    if deadline is None:
        return await awaitable
    try:
        async with asyncio.timeout_at(asyncio.get_running_loop().time() + (deadline - time.monotonic())):
            return await awaitable
    except TimeoutError:
        raise GatewayError(
            "timeout", f"request deadline of {route.timeout:g}s exceeded", status=504, retryable=False
        ) from None


# ---------------------------------------------------------------------------------------------- entry points


def _upstream(call: Call, route: Route, deadline: float | None) -> Upstream:
    """The context of one upstream call: the model's extra headers (with trace context while tracing)."""
    headers = route.headers if call.trace is None else call.trace.headers
    return Upstream(deadline, headers, call.attempts)


async def complete(call: Call, route: Route, req: Request) -> tuple[Response, Target]:
    async def attempt(target: Target, req_: Request | None, deadline: float | None) -> tuple[Response, Target]:
        assert req_ is not None
        await target.cap.acquire(target.provider.name, deadline)
        up = _upstream(call, route, deadline)
        t0 = time.perf_counter()
        try:
            response = await _bounded(target.provider.chat(req_, target.model, up), deadline, route, call)
        finally:
            call.upstream_seconds += time.perf_counter() - t0
            await target.cap.release()
        return response, target

    response, target = await _attempts(call, route, req, attempt)
    dropped.count(call, target, req.droppable)
    record_usage(call, target, response.usage)
    if call.trace is not None:
        call.trace.answered(req, response.model, response)
        call.trace.end_attempt(call)
    return response, target


def record_usage(call: Call, target: Target, usage: Usage) -> None:
    """Tokens and cost of the answer (the target's rates were resolved once, by the Router)."""
    call.input_tokens = usage.input_tokens
    call.output_tokens = usage.output_tokens
    call.cached_tokens = usage.cache_read_tokens
    rates = target.rates
    if rates is not None:
        call.cost = rates.cost(usage)


async def embed(call: Call, route: Route, req: EmbedRequest) -> EmbedResponse:
    async def attempt(target: Target, _: Request | None, deadline: float | None) -> tuple[EmbedResponse, Target]:
        await target.cap.acquire(target.provider.name, deadline)
        up = _upstream(call, route, deadline)
        t0 = time.perf_counter()
        try:
            return await _bounded(target.provider.embed(req, target.model, up), deadline, route, call), target
        finally:
            call.upstream_seconds += time.perf_counter() - t0
            await target.cap.release()

    if call.trace is not None:
        call.trace.operation = "embeddings"
    response, target = await _attempts(call, route, None, attempt)
    call.input_tokens = response.input_tokens
    if target.rates is not None:
        call.cost = target.rates.embed_cost(response.input_tokens)
    if call.trace is not None:
        call.trace.end_attempt(call)
    return response


async def compact(call: Call, route: Route, body: dict[str, Any]) -> tuple[bytes, Target]:
    """Responses `POST /responses/compact` on the route (retries, fallbacks, deadline, circuit and the
    model's headers as for any call): the client's body with `model` set per target, the JSON answer back."""

    async def attempt(target: Target, _: Request | None, deadline: float | None) -> tuple[bytes, Target]:
        await target.cap.acquire(target.provider.name, deadline)
        up = _upstream(call, route, deadline)
        t0 = time.perf_counter()
        try:
            data = await _bounded(
                target.provider.compact({**body, "model": target.model}, target.model, up), deadline, route, call
            )
            return data, target
        finally:
            call.upstream_seconds += time.perf_counter() - t0
            await target.cap.release()

    data, target = await _attempts(call, route, None, attempt)
    if call.trace is not None:
        call.trace.end_attempt(call)
    return data, target


async def count_tokens(call: Call, route: Route, req: Request) -> int | None:
    """Exact prompt tokens from the first healthy target (else the primary) where its upstream can count,
    else None (the dialect estimates). The model's transforms apply, so a system prefix is counted too."""
    now = time.monotonic()
    target = next((t for t in route.targets if t.circuit.available(now)), route.primary)
    call.provider = target.provider.name
    call.upstream_model = target.model
    call.upstream_label = target.metric_model
    t0 = time.perf_counter()
    try:
        return await target.provider.count_tokens(transform(route, req), target.model, _upstream(call, route, None))
    finally:
        call.upstream_seconds += time.perf_counter() - t0


async def list_models(call: Call, router: Router) -> list[tuple[str, str, ModelInfo]]:
    """What this caller may use: the router's listing, less the models outside the key's globs."""
    listing = await router.list_models()
    allow = call.allow
    if allow is None:
        return listing
    return [entry for entry in listing if allow(entry[0]) is not None]
