"""The `gemini` provider: calls to the Generative Language API and reading its answers and streams."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import msgspec

from providers.base import HTTPProvider, ModelInfo
from providers.gemini import wire as gw
from providers.gemini.request import call_id, encode_request
from providers.sse import iter_sse
from unified import fields
from unified.errors import GatewayError, kind_for_status
from unified.provider import Upstream
from unified.types import (
    FLUSH,
    EmbedRequest,
    EmbedResponse,
    Event,
    Finish,
    Part,
    Request,
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

STOP: dict[str, StopReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
EMBED_BATCH = 100
_encode = msgspec.json.Encoder().encode
_decode_chunk = msgspec.json.Decoder(gw.GenerateResponse).decode


# ---------------------------------------------------------------------------------------------- response


def usage_from(u: gw.UsageMetadata | None) -> Usage:
    if u is None:
        return Usage()
    thoughts = u.thoughtsTokenCount or 0
    return Usage(
        input_tokens=(u.promptTokenCount or 0) + (u.toolUsePromptTokenCount or 0),
        output_tokens=(u.candidatesTokenCount or 0) + thoughts,
        cache_read_tokens=u.cachedContentTokenCount or 0,
        reasoning_tokens=thoughts,
    )


def _blocked(data: gw.GenerateResponse) -> GatewayError | None:
    """A prompt Gemini refused outright comes as a 200 without candidates."""
    fb = data.promptFeedback
    if not data.candidates and fb is not None and fb.blockReason:
        return GatewayError("invalid_request", f"the prompt was blocked by Gemini ({fb.blockReason})", status=400)
    return None


class GeminiOptions(msgspec.Struct, forbid_unknown_fields=True):
    api_version: str = "v1beta"


class GeminiProvider(HTTPProvider):
    type: ClassVar[str] = "gemini"
    carries: ClassVar[frozenset[str]] = fields.GEMINI_ONLY  # the `gemini:` extras a Gemini client sent
    flushes: ClassVar[bool] = True
    price_table_id: ClassVar[str | None] = "google"
    otel_name: ClassVar[str | None] = "gcp.gemini"
    Options = GeminiOptions
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts: GeminiOptions = self.options or GeminiOptions()
        self.options = opts
        # base_url is given without a version; one that already ends in /v1beta or /v1 is taken as is
        self.prefix = "" if re.search(r"/v1(beta|alpha)?$", self.base_url) else "/" + opts.api_version
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            self.headers["x-goog-api-key"] = self.config.api_key
        self.headers.update(self.config.headers)

    def _path(self, model: str, method: str) -> str:
        name = model if model.startswith(("models/", "tunedModels/")) else "models/" + model
        return f"{self.prefix}/{name}:{method}"

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        body = _encode(encode_request(request, model))
        resp = await self.post(self._path(model, "generateContent"), body, self.headers_for(), up)
        data: gw.GenerateResponse = await self.read_json(resp, gw.GenerateResponse)
        blocked = _blocked(data)
        if blocked is not None:
            raise blocked
        content: list[Part] = []
        finish = None
        if data.candidates:
            cand = data.candidates[0]
            finish = cand.finishReason
            for p in cand.content.parts if cand.content is not None else []:
                if p.functionCall is not None:
                    fc = p.functionCall
                    cid = call_id(fc.id, p.thoughtSignature)
                    content.append(ToolCallPart(id=cid, name=fc.name, arguments=_encode(fc.args or {}).decode()))
                elif p.thought:
                    if p.text:
                        content.append(ThinkingPart(text=p.text))
                elif p.text:
                    content.append(TextPart(text=p.text))
        stop: StopReason = STOP.get(finish or "STOP", "stop")
        if stop == "stop" and any(isinstance(p, ToolCallPart) for p in content):
            stop = "tool_calls"
        return Response(
            id=data.responseId or "",
            model=data.modelVersion or model,
            content=content,
            stop_reason=stop,
            usage=usage_from(data.usageMetadata),
        )

    async def stream(self, request: Request, model: str, up: Upstream) -> AsyncIterator[Event]:
        body = _encode(encode_request(request, model))
        path = self._path(model, "streamGenerateContent") + "?alt=sse"
        resp = await self.post(path, body, self.headers_for("text/event-stream"), up, stream=True)
        try:
            async for event in self._events(resp, model):
                yield event
        finally:
            resp.release()

    async def _events(self, resp: Any, model: str) -> AsyncIterator[Event]:
        started = False
        calls = 0
        finish: str | None = None
        usage: gw.UsageMetadata | None = None
        async for _, data in iter_sse(resp, self.name):
            if not data:
                yield FLUSH
                continue
            try:
                chunk = _decode_chunk(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise GatewayError(
                    "api_error", f"upstream {self.name!r} sent an invalid stream event", status=502
                ) from None
            if chunk.error is not None:
                code = chunk.error.code or 502
                raise GatewayError(kind_for_status(code), chunk.error.message or "upstream error", status=code)
            if not started:
                blocked = _blocked(chunk)
                if blocked is not None:
                    raise blocked
                started = True
                yield Start(id=chunk.responseId or "", model=chunk.modelVersion or model)
            if chunk.usageMetadata is not None:
                usage = chunk.usageMetadata  # each chunk's figures are the running totals
            for cand in chunk.candidates[:1]:
                for p in cand.content.parts if cand.content is not None else []:
                    if p.functionCall is not None:
                        fc = p.functionCall
                        yield ToolCallStart(index=calls, id=call_id(fc.id, p.thoughtSignature), name=fc.name)
                        yield ToolCallDelta(index=calls, arguments=_encode(fc.args or {}).decode())
                        calls += 1
                    elif p.thought:
                        if p.text:
                            yield ThinkingDelta(text=p.text)
                    elif p.text:
                        yield TextDelta(text=p.text)
                if cand.finishReason:
                    finish = cand.finishReason
        if not started:
            raise GatewayError("api_error", f"upstream {self.name!r} closed the stream without data", status=502)
        if finish is None:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} ended the stream early")
        stop: StopReason = STOP.get(finish, "stop")
        if stop == "stop" and calls:
            stop = "tool_calls"
        yield Finish(stop_reason=stop, usage=usage_from(usage))

    async def count_tokens(self, request: Request, model: str, up: Upstream) -> int | None:
        inner = encode_request(request, model)
        inner.pop("generationConfig", None)
        inner.pop("safetySettings", None)
        inner["model"] = model if model.startswith("models/") else "models/" + model
        body = _encode({"generateContentRequest": inner})
        resp = await self.post(self._path(model, "countTokens"), body, self.headers_for(), up)
        data: gw.CountResponse = await self.read_json(resp, gw.CountResponse)
        return data.totalTokens

    async def embed(self, request: EmbedRequest, model: str, up: Upstream) -> EmbedResponse:
        name = model if model.startswith("models/") else "models/" + model
        vectors: list[list[float]] = []
        # Google takes at most 100 contents per batchEmbedContents call; larger inputs go in several.
        for start in range(0, len(request.inputs), EMBED_BATCH):
            requests = []
            for text in request.inputs[start : start + EMBED_BATCH]:
                r: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
                if request.dimensions:
                    r["outputDimensionality"] = request.dimensions
                requests.append(r)
            resp = await self.post(
                self._path(model, "batchEmbedContents"), _encode({"requests": requests}), self.headers_for(), up
            )
            data: gw.BatchEmbedResponse = await self.read_json(resp, gw.BatchEmbedResponse)
            vectors.extend(e.values for e in data.embeddings)
        return EmbedResponse(model=model, vectors=vectors)

    async def list_models(self) -> list[ModelInfo]:
        if self.config.models is not None:
            return await super().list_models()
        raw = await self.get_json(self.prefix + "/models?pageSize=1000", self.headers)
        data = msgspec.convert(raw, gw.ModelList)
        return [
            ModelInfo(id=m.name.removeprefix("models/"), context_length=m.inputTokenLimit)
            for m in data.models
            if {"generateContent", "embedContent"} & set(m.supportedGenerationMethods)
        ]
