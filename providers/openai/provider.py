"""OpenAI Chat Completions upstream: api.openai.com and every OpenAI-compatible server (vLLM, llama.cpp,
DeepSeek, GLM, Moonshot, OpenRouter, Ollama's /v1 ...). Settings and calls; the translation is in
`request`, `stream` and `wire`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec

from providers.base import HTTPProvider, ModelInfo
from providers.openai.reasoning import resolve
from providers.openai.request import OpenAIOptions, encode_request
from providers.openai.stream import ChunkDecoder
from providers.openai.wire import (
    WireCompletion,
    WireEmbeddings,
    WireFunction,
    WireMessage,
    WireModels,
    encode,
    finish_reason,
    in_body_error,
    text_of,
    usage_from,
)
from providers.sse import FramedStream, SSEFramer
from unified import fields
from unified.errors import GatewayError
from unified.ids import mint
from unified.provider import EventStream, Upstream
from unified.types import (
    EmbedRequest,
    EmbedResponse,
    Request,
    Response,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)


class OpenAIProvider(HTTPProvider):
    type: ClassVar[str] = "openai"
    flushes: ClassVar[bool] = True
    price_table_id: ClassVar[str | None] = "openai"
    Options = OpenAIOptions
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    native_apis: ClassVar[dict[str, str]] = {"openai.chat": "/chat/completions"}
    # `options.reasoning_content` when unset: None = decided by the base_url's host (reasoning.default_mode).
    reasoning_default: ClassVar[str | None] = None
    # An OpenAI chat client's own fields go on as they came (Request.extra); tool `strict` as function strict.
    carries: ClassVar[frozenset[str]] = frozenset({fields.TOOLS_STRICT, *fields.OPENAI_CHAT})

    @classmethod
    def builtin_default(cls, env: Mapping[str, str]) -> dict[str, Any] | None:
        if not env.get("OPENAI_API_KEY"):
            return None
        base_url = env.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        return {"providers": {"openai": {"type": "openai", "base_url": base_url, "api_key": env["OPENAI_API_KEY"]}}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts: OpenAIOptions = self.options or OpenAIOptions()
        mode = resolve(opts.reasoning_content, opts.send_reasoning_content, self.base_url, self.reasoning_default)
        self.options = opts = msgspec.structs.replace(opts, reasoning_content=mode)
        self.max_tokens_param = opts.max_tokens_param or (
            "max_completion_tokens" if "api.openai.com" in self.base_url else "max_tokens"
        )
        self.param_fields = {"max_tokens": self.max_tokens_param}  # the forwarding lane's output cap too
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            self.headers["Authorization"] = f"Bearer {self.config.api_key}"
        if opts.organization:
            self.headers["OpenAI-Organization"] = opts.organization
        if opts.project:
            self.headers["OpenAI-Project"] = opts.project
        self.headers.update(self.config.headers)

    def realtime(self, model: str) -> tuple[str, dict[str, str]] | None:
        base = self.base_url
        if base.startswith("https://"):
            base = "wss://" + base[8:]
        elif base.startswith("http://"):
            base = "ws://" + base[7:]
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-type", "accept")}
        return f"{base}/realtime?model={quote(model, safe='')}", headers

    def encode_request(self, req: Request, model: str, stream: bool) -> dict[str, Any]:
        body = encode_request(req, model, stream, self.options, self.max_tokens_param)
        self.adjust_body(body, req, stream)
        return body

    def adjust_body(self, body: dict[str, Any], req: Request, stream: bool) -> None:
        """Hook for compatible servers with quirks (see providers/aliyun.py)."""

    # ------------------------------------------------------------------------------------------- calls

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        body = encode(self.encode_request(request, model, stream=False))
        resp = await self.post("/chat/completions", body, self.headers_for(), up)
        data: WireCompletion = await self.read_json(resp, WireCompletion)
        if data.error is not None:
            raise in_body_error(data.error)
        if not data.choices:
            raise GatewayError("api_error", "upstream returned no choices", status=502)
        choice = data.choices[0]
        msg = choice.message or WireMessage()
        content: list[Any] = []
        thinking = msg.reasoning_content or msg.reasoning
        if thinking:
            content.append(ThinkingPart(text=thinking))
        text = text_of(msg.content) or (msg.refusal or "")
        if text:
            content.append(TextPart(text=text))
        for tc in msg.tool_calls or []:
            fn = tc.function or WireFunction()
            content.append(ToolCallPart(id=tc.id or mint("call_"), name=fn.name or "", arguments=fn.arguments or "{}"))
        return Response(
            id=data.id,
            model=data.model or model,
            content=content,
            stop_reason=finish_reason(choice.finish_reason, bool(msg.tool_calls)),
            usage=usage_from(data.usage),
        )

    async def open_stream(self, request: Request, model: str, up: Upstream) -> EventStream:
        body = encode(self.encode_request(request, model, stream=True))
        resp = await self.post("/chat/completions", body, self.headers_for("text/event-stream"), up, stream=True)
        return FramedStream(resp, SSEFramer(self.name), ChunkDecoder(model, self.name))

    async def embed(self, request: EmbedRequest, model: str, up: Upstream) -> EmbedResponse:
        body: dict[str, Any] = {"model": model, "input": request.inputs, "encoding_format": "float"}
        if request.dimensions:
            body["dimensions"] = request.dimensions
        resp = await self.post("/embeddings", encode(body), self.headers_for(), up)
        data: WireEmbeddings = await self.read_json(resp, WireEmbeddings)
        vectors = [e.embedding for e in sorted(data.data, key=lambda e: e.index)]
        return EmbedResponse(
            model=data.model or model,
            vectors=vectors,
            input_tokens=(data.usage.prompt_tokens or 0) if data.usage else 0,
        )

    async def list_models(self) -> list[ModelInfo]:
        if self.config.models is not None:
            return await super().list_models()
        data = msgspec.convert(await self.get_json("/models", self.headers), WireModels)
        return [ModelInfo(id=m.id, created=m.created) for m in data.data]
