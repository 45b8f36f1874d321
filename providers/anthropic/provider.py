"""The Anthropic Messages upstream (api.anthropic.com and Anthropic-compatible endpoints): settings and
calls; the translation is in `request`, `stream` and `wire`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from providers.anthropic.request import DEFAULT_MAX_TOKENS, common_body, encode_request, thinking_param
from providers.anthropic.stream import EventDecoder
from providers.anthropic.wire import STOP, WireCount, WireMessage, WireModels, created_at, encode, usage_from
from providers.base import HTTPProvider, ModelInfo
from providers.sse import FramedStream, SSEFramer
from unified import fields
from unified.ids import mint
from unified.provider import EventStream, Upstream
from unified.types import (
    Part,
    Request,
    Response,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)


class AnthropicOptions(msgspec.Struct, forbid_unknown_fields=True):
    version: str = "2023-06-01"  # anthropic-version header
    beta: list[str] = []  # anthropic-beta features to request on every call


class AnthropicProvider(HTTPProvider):
    type: ClassVar[str] = "anthropic"
    flushes: ClassVar[bool] = True
    price_table_id: ClassVar[str | None] = "anthropic"
    Options = AnthropicOptions
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"
    carries: ClassVar[frozenset[str]] = frozenset({fields.TOOLS_STRICT})
    native_apis: ClassVar[dict[str, str]] = {
        "anthropic.messages": "/messages",
        "anthropic.count_tokens": "/messages/count_tokens",
    }

    @classmethod
    def builtin_default(cls, env: Mapping[str, str]) -> dict[str, Any] | None:
        if not env.get("ANTHROPIC_API_KEY"):
            return None
        base_url = env.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
        return {
            "providers": {"anthropic": {"type": "anthropic", "base_url": base_url, "api_key": env["ANTHROPIC_API_KEY"]}}
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts: AnthropicOptions = self.options or AnthropicOptions()
        self.options = opts
        # base_url may be given with or without the /v1 suffix
        self.prefix = "" if self.base_url.endswith("/v1") else "/v1"
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "anthropic-version": opts.version,
        }
        if self.config.api_key:
            self.headers["x-api-key"] = self.config.api_key
        if opts.beta:
            self.headers["anthropic-beta"] = ",".join(opts.beta)
        self.headers.update(self.config.headers)
        self.default_max_tokens = self.config.max_tokens or DEFAULT_MAX_TOKENS

    def native_path(self, api: str) -> str | None:
        path = super().native_path(api)
        return None if path is None else self.prefix + path

    # ------------------------------------------------------------------------------------------- calls

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        body = encode(encode_request(request, model, False, self.default_max_tokens))
        resp = await self.post(self.prefix + "/messages", body, self.headers_for(), up)
        data: WireMessage = await self.read_json(resp, WireMessage)
        content: list[Part] = []
        for b in data.content:
            if b.type == "text":
                if b.text:
                    content.append(TextPart(text=b.text))
            elif b.type == "tool_use":
                args = b.input if b.input is not None else {}
                content.append(
                    ToolCallPart(id=b.id or mint("toolu_"), name=b.name or "", arguments=encode(args).decode())
                )
            elif b.type == "thinking":
                content.append(ThinkingPart(text=b.thinking or "", signature=b.signature or None))
            elif b.type == "redacted_thinking":
                content.append(ThinkingPart(text="", redacted=b.data or ""))
        stop = STOP.get(data.stop_reason or "end_turn", "stop")
        return Response(
            id=data.id,
            model=data.model or model,
            content=content,
            stop_reason=stop,
            stop_sequence=data.stop_sequence,
            usage=usage_from(data.usage),
        )

    async def open_stream(self, request: Request, model: str, up: Upstream) -> EventStream:
        body = encode(encode_request(request, model, True, self.default_max_tokens))
        resp = await self.post(self.prefix + "/messages", body, self.headers_for("text/event-stream"), up, stream=True)
        return FramedStream(resp, SSEFramer(self.name), EventDecoder(model, self.name))

    async def count_tokens(self, request: Request, model: str, up: Upstream) -> int | None:
        body = common_body(request, model)
        thinking = thinking_param(request)
        if thinking is not None:
            body["thinking"] = thinking
        resp = await self.post(self.prefix + "/messages/count_tokens", encode(body), self.headers_for(), up)
        data: WireCount = await self.read_json(resp, WireCount)
        return data.input_tokens

    async def list_models(self) -> list[ModelInfo]:
        if self.config.models is not None:
            return await super().list_models()
        data = msgspec.convert(await self.get_json(self.prefix + "/models?limit=1000", self.headers), WireModels)
        return [ModelInfo(id=m.id, created=created_at(m.created_at)) for m in data.data]
