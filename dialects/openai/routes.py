"""OpenAI dialect endpoints: /v1/chat/completions, /v1/models, /v1/models/{model}, /v1/embeddings, and
/v1/realtime relayed (dialects/openai/realtime.py).

A chat request whose target speaks Chat Completions itself is forwarded as sent (gateway.forward); others
are translated."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import unquote

import msgspec
from sanic import Blueprint, HTTPResponse, Request
from sanic.blueprint_group import BlueprintGroup
from sanic.response import raw

from dialects.openai import codec, native, tools
from dialects.openai import schema as wire
from dialects.openai.errors import render_error
from dialects.openai.stream import ChunkEncoder
from gateway import dispatch, forward, serve
from gateway.auth import check_model_access
from gateway.call import Call
from gateway.handler import decode_body, endpoint
from unified.errors import invalid, model_not_found
from unified.types import EmbedRequest

_chat_decoder = msgspec.json.Decoder(wire.ChatRequest)
_embed_decoder = msgspec.json.Decoder(wire.EmbeddingRequest)
_encode = msgspec.json.encode
JSON = "application/json"


def make_blueprint(prefix: str) -> BlueprintGroup:
    root = prefix + "/v1" if prefix else "/v1"
    bp = Blueprint("openai", url_prefix=root)
    on = endpoint("openai", render_error)

    from dialects.openai import realtime

    # Realtime in a blueprint of its own: its request middleware (run before the WebSocket upgrade) then
    # runs for /realtime only, not as one more coroutine on every chat request.
    live = Blueprint("openai_realtime", url_prefix=root)

    @live.on_request
    async def realtime_upstream(request: Request) -> HTTPResponse | None:
        upgrade = request.headers.get("upgrade", "").lower() == "websocket"
        if upgrade and request.method == "GET" and request.path.endswith("/realtime"):
            return await realtime.open_upstream(request)
        return None

    @live.websocket("/realtime")
    async def realtime_ws(request: Request, ws: Any) -> None:
        await realtime.session(request, ws)

    @bp.post("/chat/completions")
    @on
    def chat(request: Request, call: Call) -> Awaitable[HTTPResponse | None]:
        # A plain function handing back the coroutine that answers: one coroutine fewer per request.
        if forward.speaks(request.app.ctx.router, native.CHAT.name):
            head: native.Head = decode_body(request, native.Head, native.head_decoder)
            route = serve.resolve(call, request, head.model, session=(head.prompt_cache_key, head.user))
            if forward.reaches(route, native.CHAT.name):

                def unified() -> Any:  # for a trace that captures content only
                    return codec.to_unified(decode_body(request, wire.ChatRequest, _chat_decoder))

                lane = forward.Lane(native.CHAT, request, head.model, bool(head.stream), unified)
                return forward.serve(request, call, route, lane)
        body: wire.ChatRequest = decode_body(request, wire.ChatRequest, _chat_decoder)
        call.model = body.model
        req = codec.to_unified(body)
        route = serve.resolve(call, request, body.model, session=(body.prompt_cache_key, body.user))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        legacy = codec.answers_function_call(body)
        customs = tools.custom_names(body)
        return serve.chat(
            request,
            call,
            route,
            req,
            serve.Codec(
                lambda: ChunkEncoder(body.model, include_usage, legacy, customs),
                lambda response: codec.from_unified(response, body.model, legacy, customs),
            ),
        )

    @bp.get("/models")
    @on
    async def models(request: Request, call: Call) -> HTTPResponse:
        listing = await dispatch.list_models(call, request.app.ctx.router)
        created = int(request.app.ctx.started)
        data = [
            {"id": name, "object": "model", "created": info.created or created, "owned_by": provider}
            for name, provider, info in listing
        ]
        return raw(_encode({"object": "list", "data": data}), content_type=JSON)

    @bp.get("/models/<model:path>")
    @on
    async def model(request: Request, call: Call, model: str) -> HTTPResponse:
        name = unquote(model)
        check_model_access(call, name)
        router = request.app.ctx.router
        created = int(request.app.ctx.started)
        route = router.find(name)
        if route is not None:
            return raw(
                _encode({"id": name, "object": "model", "created": created, "owned_by": route.owner}),
                content_type=JSON,
            )
        for listed, provider, info in await router.list_models():
            if listed == name:
                return raw(
                    _encode({"id": name, "object": "model", "created": info.created or created, "owned_by": provider}),
                    content_type=JSON,
                )
        raise model_not_found(name)

    @bp.post("/embeddings")
    @on
    async def embeddings(request: Request, call: Call) -> HTTPResponse:
        body: wire.EmbeddingRequest = decode_body(request, wire.EmbeddingRequest, _embed_decoder)
        call.model = body.model
        inputs = body.input
        if isinstance(inputs, str):
            inputs = [inputs]
        if not inputs:
            raise invalid("input: must not be empty", "input")
        if not all(isinstance(i, str) for i in inputs):
            raise invalid("input: token arrays are not supported; send strings", "input")
        if any(not i for i in inputs):
            raise invalid("input: strings must not be empty", "input")
        if len(inputs) > 2048:
            raise invalid("input: at most 2048 inputs per request", "input")
        route = serve.resolve(call, request, body.model, session=(body.user,))
        result = await dispatch.embed(
            call,
            route,
            EmbedRequest(
                model=body.model,
                inputs=inputs,  # type: ignore[arg-type]
                dimensions=body.dimensions,
            ),
        )
        return raw(codec.embeddings_body(result, body.model, body.encoding_format), content_type=JSON)

    return Blueprint.group(bp, live)
