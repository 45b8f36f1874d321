"""Ollama dialect endpoints: /api/chat, /api/generate, /api/tags, /api/show, /api/version,
/api/ps, /api/embed, /api/embeddings, and `GET /` ("Ollama is running") — under a configurable prefix, or at
the root as a drop-in for a local Ollama."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import msgspec
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw, text

from dialects.ollama import codec, models, native
from dialects.ollama import schema as wire
from dialects.ollama.errors import render_error
from dialects.ollama.stream import NDJSONEncoder
from gateway import dispatch, forward, serve
from gateway.auth import check_model_access
from gateway.call import Call
from gateway.handler import decode_body, endpoint
from gateway.native import NativeApi
from gateway.router import Route, Router
from unified.errors import GatewayError, invalid
from unified.provider import ModelInfo
from unified.types import EmbedRequest

OLLAMA_VERSION = "0.12.3"  # clients compare versions (feature checks); this is a recent, plausible one
JSON = "application/json"
NDJSON = "application/x-ndjson"

_chat_decoder = msgspec.json.Decoder(wire.ChatRequest)
_generate_decoder = msgspec.json.Decoder(wire.GenerateRequest)
_show_decoder = msgspec.json.Decoder(wire.ShowRequest)
_embed_decoder = msgspec.json.Decoder(wire.EmbedRequest)
_embeddings_decoder = msgspec.json.Decoder(wire.EmbeddingsRequest)
_encode = msgspec.json.encode


def not_found(name: str) -> GatewayError:
    return GatewayError("not_found", f"model '{name}' not found", param="model", code="model_not_found")


def resolve(router: Router, name: str) -> Route:
    """Ollama names carry tags: `x:latest` means `x` (also for `provider/model:latest` pass-through)."""
    if not name:
        raise invalid("model is required", "model")
    if name.endswith(":latest"):
        route = router.find(name[: -len(":latest")])
        if route is not None:
            return route
    try:
        return router.resolve(name)
    except GatewayError as err:
        if err.kind == "not_found":
            raise not_found(name) from None
        raise


async def describe(router: Router, name: str) -> ModelInfo | None:
    """Metadata for one model: its config merged over what its provider reports; None when unknown."""
    bare = name[: -len(":latest")] if name.endswith(":latest") else name
    listing = {n: info for n, _, info in await router.list_models()}
    route = router.configured(name) or router.configured(bare)
    if route is not None:
        full = route.primary_label
        reported = listing.get(full) or listing.get(models.tagged(full))
        return models.merge(listing.get(route.name), reported, name)
    info = listing.get(name) or listing.get(bare) or listing.get(models.tagged(name))
    if info is not None:
        return info
    if router.find(bare) is not None:  # `provider/model` pass-through the provider does not advertise
        return ModelInfo(id=name)
    return None


def _route(call: Call, request: Request, name: str) -> Route:
    router = request.app.ctx.router
    return serve.resolve(call, request, name, lambda n: resolve(router, n))


def make_blueprint(prefix: str) -> Blueprint:
    bp = Blueprint("ollama", url_prefix=prefix or None)
    on = endpoint("ollama", render_error)

    async def _generate(
        request: Request,
        call: Call,
        req_model: str,
        stream: bool,
        generate: bool,
        body: wire.ChatRequest | wire.GenerateRequest,
    ) -> HTTPResponse | None:
        route = _route(call, request, req_model)
        if isinstance(body, wire.ChatRequest):
            empty = not body.messages
        else:
            empty = not body.prompt and not body.images
        if empty:
            unload = body.keep_alive in (0, "0", "0s")
            return raw(
                codec.load_response(req_model, generate, unload) + (b"\n" if stream else b""),
                content_type=NDJSON if stream else JSON,
            )
        req = (
            codec.generate_to_unified(body, stream)
            if isinstance(body, wire.GenerateRequest)
            else codec.chat_to_unified(body, stream)
        )
        show_thinking = body.think is not False
        return await serve.chat(
            request,
            call,
            route,
            req,
            serve.Codec(
                lambda: NDJSONEncoder(req_model, generate, show_thinking, call.started),
                lambda response: codec.render_response(
                    response, req_model, generate, show_thinking, call.started, call.upstream_seconds
                ),
                stream_headers={},
            ),
        )

    async def _forward(
        request: Request,
        call: Call,
        api: NativeApi,
        head: native.ChatHead | native.GenerateHead,
        empty: bool,
        unified: Callable[[], Any],
    ) -> HTTPResponse | bool | None:
        """Serve on the forwarding lane when the route's upstreams speak this API; False when they do not
        (the caller translates)."""
        model = head.model
        route = _route(call, request, model)
        if not forward.reaches(route, api.name):
            return False
        stream = head.stream is not False
        if empty:
            unload = head.keep_alive in (0, "0", "0s")
            return raw(
                codec.load_response(model, api is native.GENERATE, unload) + (b"\n" if stream else b""),
                content_type=NDJSON if stream else JSON,
            )
        return await forward.serve(request, call, route, forward.Lane(api, request, model, stream, unified))

    @bp.post("/api/chat")
    @on
    async def chat(request: Request, call: Call) -> HTTPResponse | None:
        if forward.speaks(request.app.ctx.router, native.CHAT.name):
            head: native.ChatHead = decode_body(request, native.ChatHead, native.chat_head_decoder, curl_ok=True)

            def unified() -> Any:
                full: wire.ChatRequest = decode_body(request, wire.ChatRequest, _chat_decoder, curl_ok=True)
                return codec.chat_to_unified(full, head.stream is not False)

            served = await _forward(request, call, native.CHAT, head, not head.messages, unified)
            if served is not False:
                return served  # type: ignore[return-value]
        body: wire.ChatRequest = decode_body(request, wire.ChatRequest, _chat_decoder, curl_ok=True)
        return await _generate(request, call, body.model, body.stream is not False, False, body)

    @bp.post("/api/generate")
    @on
    async def generate(request: Request, call: Call) -> HTTPResponse | None:
        if forward.speaks(request.app.ctx.router, native.GENERATE.name):
            head: native.GenerateHead = decode_body(
                request, native.GenerateHead, native.generate_head_decoder, curl_ok=True
            )

            def unified() -> Any:
                full: wire.GenerateRequest = decode_body(request, wire.GenerateRequest, _generate_decoder, curl_ok=True)
                return codec.generate_to_unified(full, head.stream is not False)

            empty = not head.prompt and not head.images
            served = await _forward(request, call, native.GENERATE, head, empty, unified)
            if served is not False:
                return served  # type: ignore[return-value]
        body: wire.GenerateRequest = decode_body(request, wire.GenerateRequest, _generate_decoder, curl_ok=True)
        return await _generate(request, call, body.model, body.stream is not False, True, body)

    @bp.get("/api/tags")
    @on
    async def tags(request: Request, call: Call) -> HTTPResponse:
        router: Router = request.app.ctx.router
        started = request.app.ctx.started
        listing = await dispatch.list_models(call, router)
        by_name = {n: info for n, _, info in listing}
        entries = []
        for name, _, info in listing:
            route = router.configured(name)
            if route is not None:  # a configured name: add what its provider knows about the target
                full = route.primary_label
                info = models.merge(info, by_name.get(full) or by_name.get(models.tagged(full)), name)
            entries.append(models.tag_entry(name, info, started))
        return raw(_encode({"models": entries}), content_type=JSON)

    async def _show(request: Request, call: Call, name: str | None) -> HTTPResponse:
        if not name:
            raise invalid("model is required", "model")
        check_model_access(call, name)
        info = await describe(request.app.ctx.router, name)
        if info is None:
            raise not_found(name)
        return raw(_encode(models.show_body(name, info, request.app.ctx.started)), content_type=JSON)

    @bp.post("/api/show")
    @on
    async def show(request: Request, call: Call) -> HTTPResponse:
        body: wire.ShowRequest = decode_body(request, wire.ShowRequest, _show_decoder, curl_ok=True)
        return await _show(request, call, body.model or body.name)

    @bp.get("/api/show/<model:path>")
    @on
    async def show_get(request: Request, call: Call, model: str) -> HTTPResponse:
        return await _show(request, call, unquote(model))

    @bp.get("/api/version")
    @on
    async def version(request: Request, call: Call) -> HTTPResponse:
        return raw(_encode({"version": OLLAMA_VERSION}), content_type=JSON)

    @bp.get("/api/ps")
    @on
    async def ps(request: Request, call: Call) -> HTTPResponse:
        return raw(b'{"models":[]}', content_type=JSON)  # nothing is "loaded" in a gateway

    @bp.post("/api/embed")
    @on
    async def embed(request: Request, call: Call) -> HTTPResponse:
        body: wire.EmbedRequest = decode_body(request, wire.EmbedRequest, _embed_decoder, curl_ok=True)
        call.model = body.model
        if body.input is None:
            raise invalid("input is required", "input")
        inputs = [body.input] if isinstance(body.input, str) else body.input
        if any(not s for s in inputs):
            raise invalid("input: strings must not be empty", "input")
        if len(inputs) > 2048:
            raise invalid("input: at most 2048 inputs per request", "input")
        route = _route(call, request, body.model)
        if not inputs:
            return raw(_encode({"model": body.model, "embeddings": []}), content_type=JSON)
        result = await dispatch.embed(
            call, route, EmbedRequest(model=body.model, inputs=inputs, dimensions=body.dimensions)
        )
        vectors = [_normalised(v) for v in result.vectors]  # Ollama's /api/embed returns unit vectors
        total = max(1, int((time.perf_counter() - call.started) * 1e9))
        return raw(
            _encode(
                {
                    "model": body.model,
                    "embeddings": vectors,
                    "total_duration": total,
                    "load_duration": 0,
                    "prompt_eval_count": result.input_tokens,
                }
            ),
            content_type=JSON,
        )

    @bp.post("/api/embeddings")
    @on
    async def embeddings(request: Request, call: Call) -> HTTPResponse:
        body: wire.EmbeddingsRequest = decode_body(request, wire.EmbeddingsRequest, _embeddings_decoder, curl_ok=True)
        call.model = body.model
        route = _route(call, request, body.model)
        if not body.prompt:
            return raw(b'{"embedding":[]}', content_type=JSON)
        result = await dispatch.embed(call, route, EmbedRequest(model=body.model, inputs=[body.prompt]))
        return raw(_encode({"embedding": result.vectors[0] if result.vectors else []}), content_type=JSON)

    @bp.route("/", methods=["GET", "HEAD"])
    async def root(request: Request) -> HTTPResponse:
        return text("Ollama is running")

    return bp


def _normalised(vec: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vec))
    if not norm or abs(norm - 1.0) < 1e-6:
        return vec
    return [v / norm for v in vec]
