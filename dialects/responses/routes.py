"""Responses API endpoints: POST /v1/responses (JSON or SSE), GET /v1/responses/{id},
POST /v1/responses/input_tokens, POST /v1/responses/compact, and the Responses API over WebSocket
(GET /v1/responses upgraded: dialects/responses/ws.py)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from dialects.responses import codec_in, codec_out, native
from dialects.responses import schema as wire
from dialects.responses.errors import render_error
from dialects.responses.store import MemoryStore, RedisStore, ResponseStore
from dialects.responses.stream import ResponsesEncoder
from dialects.responses.tools import ToolMap
from gateway import dispatch, forward, serve
from gateway.call import Call
from gateway.handler import decode_body, endpoint
from gateway.router import Route, Target
from gateway.streaming import SSE_HEADERS
from unified.errors import GatewayError, invalid
from unified.estimate import estimate_tokens as estimate
from unified.types import Message
from unified.types import Request as UnifiedRequest
from unified.types import Response as UnifiedResponse

log = logging.getLogger("llm_link")

_create_decoder = msgspec.json.Decoder(wire.ResponsesRequest)
_count_decoder = msgspec.json.Decoder(wire.InputTokensRequest)
_output_decoder = msgspec.json.Decoder(list[wire.InputItem])
_item_decoder = msgspec.json.Decoder(wire.InputItem)
_encode = msgspec.json.encode
JSON = "application/json"
STATELESS = (
    "previous_response_id: this gateway is stateless (no `responses.store` configured); send the whole "
    "conversation in `input` (as Codex does with store: false)"
)


class _Output(msgspec.Struct):
    output: msgspec.Raw


_output_of = msgspec.json.Decoder(_Output)


def make_store(app: Any) -> ResponseStore | None:
    cfg = app.ctx.config
    rc = cfg.responses
    if rc is None or rc.store == "none":
        return None
    if rc.store == "redis":
        state = cfg.state
        return RedisStore(state.redis_url, state.key_prefix, rc.ttl)
    return MemoryStore(rc.ttl)


async def _history(store: ResponseStore | None, previous: str) -> list[Message]:
    """The conversation up to and including a stored response, to prepend to this request's input."""
    if store is None:
        raise invalid(STATELESS, "previous_response_id")
    found = await store.get(previous)
    if found is None:
        raise GatewayError(
            "invalid_request",
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    response, history = found
    messages = list(history)
    codec_in.items_in(_output_decoder.decode(_output_of.decode(response).output), messages)
    return messages


async def _refs(
    store: ResponseStore | None, items: str | list[wire.InputItem] | None
) -> dict[str, wire.InputItem] | None:
    """The stored items the input's `item_reference`s name (None = no store to look in)."""
    ids = codec_in.references(items)
    if not ids or store is None:
        return None if store is None else {}
    return {k: _item_decoder.decode(v) for k, v in (await store.get_items(ids)).items()}


async def _keep(store: ResponseStore, response_id: str, data: bytes, history: list[Message]) -> None:
    """Store an answer the client already has: a store that fails costs the later lookup, not this answer."""
    try:
        await store.put(response_id, data, history)
    except GatewayError as err:
        log.warning("responses: could not store %s: %s", response_id, err.message)


def _not_stored(store: ResponseStore | None, response_id: str) -> GatewayError:
    detail = "" if store is not None else " (this gateway stores no responses: `responses.store` is off)"
    return GatewayError("not_found", f"No response found with id '{response_id[:100]}'.{detail}", param="response_id")


def _check_hosted(route: Route, forced: str | None) -> None:
    if forced is not None and not route.hosted_tools:
        raise invalid(
            f"tool_choice: the hosted tool {forced!r} cannot run on this model's upstream "
            f"({route.owner}); only an `api: responses` upstream runs hosted tools",
            "tool_choice",
        )


def _own_history(req: UnifiedRequest, body: wire.ResponsesRequest) -> list[Message]:
    """What a follow-up replays: the conversation without this request's `instructions` (they do not
    carry over to the next response, as in the real API)."""
    return req.messages[1:] if body.instructions else req.messages


def estimate_tokens(req: UnifiedRequest) -> int:
    """For upstreams that cannot count; 765 per image (a high-detail 512px tile pair, OpenAI's order of
    magnitude) or document."""
    return estimate(req, 765)


class _Answer:
    """How the core answers a Responses request (gateway.serve.ChatCodec): the final response body is kept
    for the store. (Hosted tools the answering target cannot run are counted as dropped by the core.)"""

    content_type = JSON
    stream_headers = SSE_HEADERS

    def __init__(self, call: Call, env: codec_out.Envelope, tmap: ToolMap) -> None:
        self.call = call
        self.env = env
        self.tmap = tmap
        self.encoder: ResponsesEncoder | None = None
        self._final: bytes | None = None

    @property
    def final(self) -> bytes | None:
        """The whole response object once answered (for a stream: once it completed)."""
        return self.encoder.final if self.encoder is not None else self._final

    def stream_encoder(self, target: Target) -> ResponsesEncoder:
        self.encoder = ResponsesEncoder(self.env, self.tmap)
        return self.encoder

    def render(self, response: UnifiedResponse, target: Target) -> bytes:
        self._final = codec_out.from_unified(response, self.env, self.tmap)
        return self._final


# ---------------------------------------------------------------------------------------------- forwarding
#
# A route whose every target speaks the Responses API itself (`api: responses`, passthrough on) gets the
# request as the client sent it: unknown fields, `include`, `store`, `previous_response_id` and
# the upstream's own ids all survive, and the stream is relayed as it comes. Other routes are translated.


async def _stored_here(store: ResponseStore | None, previous: str | None) -> bool:
    """A previous_response_id this gateway stored (from a translated answer) is resolved here, not upstream."""
    if not previous or store is None:
        return False
    return await store.get(previous) is not None


def make_blueprint(prefix: str) -> Blueprint:
    bp = Blueprint("responses", url_prefix=prefix + "/v1" if prefix else "/v1")
    on = endpoint("responses", render_error)

    @bp.before_server_start
    async def open_store(app: Any) -> None:
        app.ctx.responses_store = make_store(app)

    @bp.after_server_stop
    async def close_store(app: Any) -> None:
        store = getattr(app.ctx, "responses_store", None)
        if store is not None:
            await store.close()

    @bp.post("/responses")
    @on
    async def create(request: Request, call: Call) -> HTTPResponse | None:
        store: ResponseStore | None = request.app.ctx.responses_store
        if forward.speaks(request.app.ctx.router, native.RESPONSES.name):
            head: native.Head = decode_body(request, native.Head, native.head_decoder)
            route = serve.resolve(call, request, head.model, session=(head.prompt_cache_key, head.user))
            if forward.reaches(route, native.RESPONSES.name) and not await _stored_here(
                store, head.previous_response_id
            ):

                def unified() -> UnifiedRequest:  # for a trace that captures content only
                    body = decode_body(request, wire.ResponsesRequest, _create_decoder)
                    return codec_in.to_unified(body, None)[0]

                lane = forward.Lane(native.RESPONSES, request, head.model, bool(head.stream), unified)
                return await forward.serve(request, call, route, lane)
        body: wire.ResponsesRequest = decode_body(request, wire.ResponsesRequest, _create_decoder)
        call.model = body.model
        history = await _history(store, body.previous_response_id) if body.previous_response_id else None
        req, tmap, forced = codec_in.to_unified(body, history, await _refs(store, body.input))
        route = serve.resolve(call, request, body.model, session=(body.prompt_cache_key, body.user))
        _check_hosted(route, forced)
        keep = store is not None and body.store is not False
        answer = _Answer(call, codec_out.Envelope(body, keep, body.previous_response_id), tmap)
        response = await serve.chat(request, call, route, req, answer)
        if keep and answer.final is not None:
            assert store is not None
            await _keep(store, answer.env.id, answer.final, _own_history(req, body))
        return response

    from dialects.responses import ws as websocket  # imports this module: bound here, once it is loaded

    @bp.on_request
    async def websocket_key(request: Request) -> HTTPResponse | None:
        if request.method == "GET" and request.headers.get("upgrade", "").lower() == "websocket":
            return await websocket.check_key(request)
        return None

    @bp.websocket("/responses")
    async def responses_ws(request: Request, ws: Any) -> None:
        await websocket.session(request, ws)

    @bp.get("/responses/<response_id:str>")
    @on
    async def retrieve(request: Request, call: Call, response_id: str) -> HTTPResponse:
        store: ResponseStore | None = request.app.ctx.responses_store
        found = await store.get(response_id) if store is not None else None
        if found is None:
            raise _not_stored(store, response_id)
        return raw(found[0], content_type=JSON)

    @bp.delete("/responses/<response_id:str>")
    @on
    async def delete(request: Request, call: Call, response_id: str) -> HTTPResponse:
        store: ResponseStore | None = request.app.ctx.responses_store
        if store is None or not await store.delete(response_id):
            raise _not_stored(store, response_id)
        return raw(_encode({"id": response_id, "object": "response", "deleted": True}), content_type=JSON)

    @bp.post("/responses/input_tokens")
    @on
    async def input_tokens(request: Request, call: Call) -> HTTPResponse:
        body: wire.InputTokensRequest = decode_body(request, wire.InputTokensRequest, _count_decoder)
        model = body.model or request.app.ctx.config.default_model
        if not model:
            raise invalid("model: required (this gateway has no default_model)", "model")
        call.model = model
        store: ResponseStore | None = request.app.ctx.responses_store
        history = await _history(store, body.previous_response_id) if body.previous_response_id else None
        create = wire.ResponsesRequest(
            model=model,
            input=body.input,
            instructions=body.instructions,
            tools=body.tools,
            tool_choice=body.tool_choice,
            parallel_tool_calls=body.parallel_tool_calls,
            reasoning=body.reasoning,
            text=body.text,
            conversation=body.conversation,
        )
        req, _, _ = codec_in.to_unified(create, history, await _refs(store, body.input))
        route = serve.resolve(call, request, model)
        count = await dispatch.count_tokens(call, route, req)
        if count is None:
            count = estimate_tokens(dispatch.transform(route, req))
        return raw(_encode({"object": "response.input_tokens", "input_tokens": count}), content_type=JSON)

    @bp.post("/responses/compact")
    @on
    async def compact(request: Request, call: Call) -> HTTPResponse:
        body = decode_body(request, dict[str, Any])
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("model: required", "model")
        route = serve.resolve(call, request, model)
        data, target = await dispatch.compact(call, route, body)
        usage = native.usage_of(data)
        if usage is not None:
            dispatch.record_usage(call, target, usage)
        return raw(data, content_type=JSON)

    return bp
