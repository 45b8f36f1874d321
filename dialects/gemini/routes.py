"""Gemini dialect endpoints, under both API versions Google serves (`/v1beta`, the default of gemini-cli and
the JS SDK, and `/v1`, the default of newer Python SDKs):

    POST models/{model}:generateContent | :streamGenerateContent | :countTokens | :embedContent
                        | :batchEmbedContents
    GET  models, models/{model}

`{model}` may hold slashes (`models/oai/gpt-4o:generateContent` asks for `oai/gpt-4o`)."""

from __future__ import annotations

import logging
from typing import Any, cast
from urllib.parse import unquote

import msgspec
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from dialects.gemini import codec
from dialects.gemini import schema as wire
from dialects.gemini.errors import render_error
from dialects.gemini.schema import pick
from dialects.gemini.stream import ChunkEncoder
from gateway import dispatch, serve
from gateway.auth import check_model_access
from gateway.call import Call
from gateway.handler import decode_body, endpoint
from gateway.streaming import StreamEncoder
from unified.errors import GatewayError, invalid
from unified.types import EmbedRequest, EmbedResponse, Event, Finish

_generate_decoder = msgspec.json.Decoder(wire.GenerateContentRequest)
_count_decoder = msgspec.json.Decoder(wire.CountTokensRequest)
_embed_decoder = msgspec.json.Decoder(wire.EmbedContentRequest)
_batch_decoder = msgspec.json.Decoder(wire.BatchEmbedContentsRequest)
_encode = msgspec.json.encode
JSON = "application/json"
log = logging.getLogger("llm_link")
VERSIONS = ("/v1beta", "/v1")
METHODS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents")
MAX_BATCH = 100  # Google's limit on batchEmbedContents requests
PAGE_SIZE = 50


def _model_object(name: str, owner: str, context_length: int | None) -> dict[str, object]:
    out: dict[str, object] = {
        "name": "models/" + name,
        "baseModelId": name,
        "version": "001",
        "displayName": name,
        "description": f"{name}, served by llm-link ({owner})",
        "supportedGenerationMethods": list(METHODS),
    }
    if context_length:
        out["inputTokenLimit"] = context_length
    return out


def _texts(content: wire.Content, where: str) -> str:
    text = "\n".join(p.text for p in content.parts if p.text)
    if not text:
        raise invalid(f"{where}.parts: text content is required for embeddings", f"{where}.parts")
    return text


def _dimensions(r: wire.EmbedContentRequest) -> int | None:
    return pick(r.outputDimensionality, r.output_dimensionality)


async def _embed(request: Request, call: Call, model: str, texts: list[str], dims: int | None) -> EmbedResponse:
    route = serve.resolve(call, request, model)
    return await dispatch.embed(call, route, EmbedRequest(model=model, inputs=texts, dimensions=dims))


class _ArrayEncoder:
    """`streamGenerateContent` without `alt=sse`: Google streams one JSON array of responses instead."""

    content_type = "application/json"

    def __init__(self, inner: ChunkEncoder) -> None:
        self.inner = inner
        self.opened = False

    def _wrap(self, data: bytes) -> bytes:
        out = b""
        for piece in data.split(b"\r\n\r\n"):
            if piece:
                out += (b",\r\n" if self.opened else b"[") + piece[len(b"data: ") :]
                self.opened = True
        return out

    def feed(self, event: Event) -> bytes:
        out = self._wrap(self.inner.feed(event))
        if isinstance(event, Finish):
            out += b"]" if self.opened else b"[]"
        return out

    def error(self, err: GatewayError) -> bytes:
        return self._wrap(self.inner.error(err)) + b"]"

    def ping(self) -> bytes | None:
        return None


def make_blueprint(prefix: str) -> Blueprint:
    bp = Blueprint("gemini", url_prefix=prefix or "/")
    on = endpoint("gemini", render_error)

    async def generate(request: Request, call: Call, model: str, stream: bool) -> HTTPResponse | None:
        body: wire.GenerateContentRequest = decode_body(request, wire.GenerateContentRequest, _generate_decoder)
        req = codec.to_unified(body, model, stream)
        route = serve.resolve(call, request, model)
        sse = request.args.get("alt") == "sse"

        def encoder() -> StreamEncoder:
            chunks = ChunkEncoder(model)
            return chunks if sse else _ArrayEncoder(chunks)

        return await serve.chat(
            request,
            call,
            route,
            req,
            serve.Codec(encoder, lambda response: codec.from_unified(response, model)),
        )

    async def count_tokens(request: Request, call: Call, model: str) -> HTTPResponse:
        body: wire.CountTokensRequest = decode_body(request, wire.CountTokensRequest, _count_decoder)
        req = codec.count_request(body, model)
        if not req.messages:
            raise invalid("contents: must not be empty", "contents")
        route = serve.resolve(call, request, model)
        count = await dispatch.count_tokens(call, route, req)
        if count is None:
            count = codec.estimate_tokens(dispatch.transform(route, req))  # a system prefix counts too
        return raw(_encode({"totalTokens": count}), content_type=JSON)

    async def embed_content(request: Request, call: Call, model: str) -> HTTPResponse:
        body: wire.EmbedContentRequest = decode_body(request, wire.EmbedContentRequest, _embed_decoder)
        result = await _embed(request, call, model, [_texts(body.content, "content")], _dimensions(body))
        return raw(_encode({"embedding": {"values": result.vectors[0]}}), content_type=JSON)

    async def batch_embed(request: Request, call: Call, model: str) -> HTTPResponse:
        body: wire.BatchEmbedContentsRequest = decode_body(request, wire.BatchEmbedContentsRequest, _batch_decoder)
        if not body.requests:
            raise invalid("requests: must not be empty", "requests")
        if len(body.requests) > MAX_BATCH:
            raise invalid(f"requests: at most {MAX_BATCH} requests are allowed in a batch", "requests")
        dims = {_dimensions(r) for r in body.requests}
        if len(dims) > 1:
            raise invalid("requests: every request in a batch must ask for the same outputDimensionality", "requests")
        texts = [_texts(r.content, f"requests[{i}].content") for i, r in enumerate(body.requests)]
        result = await _embed(request, call, model, texts, dims.pop())
        return raw(_encode({"embeddings": [{"values": v} for v in result.vectors]}), content_type=JSON)

    @on
    async def model_call(request: Request, call: Call, rest: str) -> HTTPResponse | None:
        model, sep, method = unquote(rest).rpartition(":")
        if not sep or not model:
            raise GatewayError("not_found", f"Unknown route: {request.method} {request.path}")
        call.model = model
        if method == "generateContent":
            return await generate(request, call, model, stream=False)
        if method == "streamGenerateContent":
            return await generate(request, call, model, stream=True)
        if method == "countTokens":
            return await count_tokens(request, call, model)
        if method == "embedContent":
            return await embed_content(request, call, model)
        if method == "batchEmbedContents":
            return await batch_embed(request, call, model)
        raise GatewayError("not_found", f"Method {method[:64]!r} is not served by this gateway")

    @on
    async def list_models(request: Request, call: Call) -> HTTPResponse:
        try:
            size = int(request.args.get("pageSize") or PAGE_SIZE)
            start = int(request.args.get("pageToken") or 0)
        except ValueError:
            raise invalid("pageSize and pageToken must be integers", "pageSize") from None
        size = min(max(size, 1), 1000)
        listing = await dispatch.list_models(call, request.app.ctx.router)
        page = listing[max(start, 0) : max(start, 0) + size]
        out: dict[str, object] = {"models": [_model_object(n, p, info.context_length) for n, p, info in page]}
        if start + size < len(listing):
            out["nextPageToken"] = str(start + size)
        return raw(_encode(out), content_type=JSON)

    @on
    async def get_model(request: Request, call: Call, rest: str) -> HTTPResponse:
        name = unquote(rest)
        check_model_access(call, name)
        router = request.app.ctx.router
        for listed, provider, info in await router.list_models():
            if listed == name:
                return raw(_encode(_model_object(name, provider, info.context_length)), content_type=JSON)
        route = router.find(name)
        if route is not None:
            return raw(_encode(_model_object(name, route.owner, None)), content_type=JSON)
        raise GatewayError("not_found", f"models/{name[:200]} is not found for this gateway")

    for version in VERSIONS:
        tag = version.strip("/")
        bp.add_route(cast(Any, list_models), version + "/models", methods=["GET"], name=f"{tag}_models")
        bp.add_route(cast(Any, get_model), version + "/models/<rest:path>", methods=["GET"], name=f"{tag}_model")
        bp.add_route(cast(Any, model_call), version + "/models/<rest:path>", methods=["POST"], name=f"{tag}_call")
    return bp
