"""A chat request on a model with `cache: true`: a hit is answered from the stored Response (as one body,
or replayed as a stream) with no upstream call, so no upstream tokens and no spend; a miss goes upstream as
usual and its answer is stored once it is complete and successful. RPM still counts every request (the
key's check ran before this)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sanic import HTTPResponse, Request
from sanic.response import raw

from gateway import dispatch, streamed
from gateway.cache import HEADER, ResponseCache, policy
from gateway.cache.replay import Recorder, ReplayAnswer, events_of, replayable
from gateway.call import Call
from gateway.router import Route
from gateway.streaming import send_stream
from unified.types import Request as ChatRequest
from unified.types import Response

if TYPE_CHECKING:
    from gateway.serve import ChatCodec


async def chat(
    request: Request, call: Call, route: Route, req: ChatRequest, codec: ChatCodec, cache: ResponseCache
) -> HTTPResponse | None:
    mode = policy(request.headers.get("cache-control"))
    metrics = call.metrics
    family = metrics.cache if metrics is not None else None
    if mode == "bypass":
        if family is not None:
            metrics.child(family, call.model_label, "bypass").inc()
        return await _upstream(request, call, route, req, codec, cache, None, "bypass")
    key = cache.key(call.key_name, route, req)
    if mode == "use":
        found = await cache.get(key)
        if found is not None:
            if family is not None:
                metrics.child(family, call.model_label, "hit").inc()
            return await _replay(request, call, route, req, codec, found)
    if family is not None:
        metrics.child(family, call.model_label, "miss").inc()
    return await _upstream(request, call, route, req, codec, cache, key, "miss")


async def _replay(
    request: Request, call: Call, route: Route, req: ChatRequest, codec: ChatCodec, found: Response
) -> HTTPResponse | None:
    # The codec is told the route's first target, as if it had answered (dialects note which hosted tools
    # it could not run); no target is named in the headers, since none was asked.
    if req.stream:
        call.stream = True
        encoder = codec.stream_encoder(route.primary)
        headers = {**codec.stream_headers, HEADER: "hit"}
        await send_stream(request, call, ReplayAnswer(events_of(found)), encoder, headers)
        return None
    return raw(codec.render(found, route.primary), content_type=codec.content_type, headers={HEADER: "hit"})


async def _upstream(
    request: Request,
    call: Call,
    route: Route,
    req: ChatRequest,
    codec: ChatCodec,
    cache: ResponseCache,
    key: str | None,
    result: str,
) -> HTTPResponse | None:
    """The usual upstream call; with a `key`, the answer stored when it is whole and successful."""
    if req.stream:
        answer = await streamed.open_stream(call, route, req)
        try:
            encoder = codec.stream_encoder(answer.target)
        except BaseException:
            await answer.close()
            raise
        recorder = Recorder(encoder, cache.max_entry_bytes) if key is not None else None
        headers = {**codec.stream_headers, HEADER: result}
        await send_stream(request, call, answer, recorder or encoder, headers)
        if recorder is not None and call.status == 200:
            await _store(call, cache, key, recorder.response())
        return None
    response, target = await dispatch.complete(call, route, req)
    body = codec.render(response, target)
    if key is not None:
        await _store(call, cache, key, response)
    return raw(body, content_type=codec.content_type, headers={HEADER: result})


async def _store(call: Call, cache: ResponseCache, key: str | None, response: Response | None) -> None:
    if key is None or response is None or not replayable(response):
        return
    data = cache.encode(response)
    if data is None:
        return
    await cache.put(key, data)
    if call.metrics is not None:
        call.metrics.child(call.metrics.cache, call.model_label, "store").inc()
