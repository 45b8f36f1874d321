"""Aliyun DashScope (Qwen) through its OpenAI-compatible mode. The wire format is
OpenAI's; the differences handled here:

- region base URLs (Beijing by default; `options.region: singapore` for the international service, or any
  `base_url`, e.g. a workspace host);
- thinking: `enable_thinking` / `thinking_budget` instead of `reasoning_effort`; hybrid-thinking models refuse
  non-streaming calls with thinking on, and some models only stream at all. A non-streaming call therefore
  sends `enable_thinking: false` unless the client asked for thinking, in which case (and whenever the
  upstream says it only streams) it streams internally and aggregates;
- `top_k`, `repetition_penalty`, `enable_search` are body extras;
- error bodies: the compatible `{"error": {"code", "message"}}` and the native `{"code", "message"}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import msgspec

from providers.openai import OpenAIOptions, OpenAIProvider
from unified.errors import GatewayError
from unified.provider import Upstream
from unified.types import (
    EmbedRequest,
    EmbedResponse,
    Finish,
    Request,
    Response,
    Start,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
)

REGIONS = {
    "beijing": "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "cn": "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "singapore": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    "intl": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
}
_STREAM_ONLY_HINTS = ("only support stream", "only supports stream", "must be set to false for non-streaming")


class AliyunOptions(OpenAIOptions, forbid_unknown_fields=True):
    region: Literal["beijing", "cn", "singapore", "intl"] = "beijing"
    # Models that only answer streaming calls (QwQ, QVQ, some Qwen3 variants): always stream + aggregate.
    stream_only_models: list[str] = []


class AliyunProvider(OpenAIProvider):
    type: ClassVar[str] = "aliyun"
    price_table_id: ClassVar[str | None] = None  # priced by its base URL, not as OpenAI
    otel_name: ClassVar[str | None] = "alibaba"
    Options = AliyunOptions
    default_base_url: ClassVar[str | None] = REGIONS["beijing"]
    # DashScope's quirks (stream-only models, thinking switches) need the translated lane's adjustments.
    native_apis: ClassVar[dict[str, str]] = {}
    # Qwen thinking models keep reasoning across tool calls when it comes back as reasoning_content.
    reasoning_default: ClassVar[str | None] = "echo"

    @classmethod
    def builtin_default(cls, env: Mapping[str, str]) -> dict[str, Any] | None:
        if not env.get("DASHSCOPE_API_KEY"):
            return None
        return {"providers": {"aliyun": {"type": "aliyun", "api_key": env["DASHSCOPE_API_KEY"]}}}

    def realtime(self, model: str) -> tuple[str, dict[str, str]] | None:
        return None  # DashScope's realtime models have their own endpoint and protocol

    def __init__(self, name: str, config: Any, options: Any, session: Any) -> None:
        super().__init__(name, config, options or AliyunOptions(), session)
        if not config.base_url:
            self.base_url = REGIONS[self.options.region]
        self.max_tokens_param = self.options.max_tokens_param or "max_tokens"
        self.param_fields = {"max_tokens": self.max_tokens_param}

    def adjust_body(self, body: dict[str, Any], req: Request, stream: bool) -> None:
        body.pop("reasoning_effort", None)  # DashScope speaks enable_thinking / thinking_budget
        r = req.reasoning
        if r is not None and "enable_thinking" not in body:
            body["enable_thinking"] = r.enabled and r.effort not in ("none", "minimal")
        if r is not None and r.budget_tokens and "thinking_budget" not in body:
            body["thinking_budget"] = r.budget_tokens
        if req.top_k is not None:
            body.setdefault("top_k", req.top_k)
        if not stream and not body.get("enable_thinking"):
            # Hybrid models (Qwen3) think by default and then refuse non-streaming calls.
            body["enable_thinking"] = False

    def describe_error(self, status: int, body: bytes) -> str:
        """`{"error": {"code", "message"}}` (compatible mode) or `{"code", "message"}` (native)."""
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return super().describe_error(status, body)
        if isinstance(data, dict):
            inner = data.get("error")
            err = inner if isinstance(inner, dict) else data
            message, code = err.get("message"), err.get("code")
            if isinstance(message, str) and message:
                return f"{message} ({code})" if isinstance(code, str) and code and code not in message else message
        return super().describe_error(status, body)

    def _wants_thinking(self, req: Request) -> bool:
        if req.extra and req.extra.get("enable_thinking") is True:
            return True
        r = req.reasoning
        return r is not None and r.enabled and r.effort not in ("none", "minimal")

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        if model in self.options.stream_only_models or self._wants_thinking(request):
            return await self._aggregate(request, model, up)
        try:
            return await super().chat(request, model, up)
        except GatewayError as err:
            if err.status == 400 and any(h in err.message for h in _STREAM_ONLY_HINTS):
                return await self._aggregate(request, model, up)
            raise

    async def _aggregate(self, request: Request, model: str, up: Upstream) -> Response:
        """Stream from the upstream and build the whole response from the events."""
        rid, upstream_model = "", model
        thinking: list[str] = []
        text: list[str] = []
        calls: list[ToolCallPart] = []
        args: list[list[str]] = []
        finish = Finish()
        async for event in self.stream(request, model, up):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ThinkingDelta):
                thinking.append(event.text)
            elif isinstance(event, ToolCallStart):
                calls.append(ToolCallPart(id=event.id, name=event.name))
                args.append([])
            elif isinstance(event, ToolCallDelta):
                args[event.index].append(event.arguments)
            elif isinstance(event, Start):
                rid, upstream_model = event.id, event.model
            elif isinstance(event, Finish):
                finish = event
        content: list[Any] = []
        if thinking:
            content.append(ThinkingPart(text="".join(thinking)))
        if text:
            content.append(TextPart(text="".join(text)))
        content.extend(msgspec.structs.replace(c, arguments="".join(a) or "{}") for c, a in zip(calls, args))
        return Response(
            id=rid, model=upstream_model, content=content, stop_reason=finish.stop_reason, usage=finish.usage
        )

    async def embed(self, request: EmbedRequest, model: str, up: Upstream) -> EmbedResponse:
        # DashScope's compatible embeddings take at most 10 inputs per call: batch larger requests.
        if len(request.inputs) <= 10:
            return await super().embed(request, model, up)
        vectors: list[list[float]] = []
        tokens = 0
        name = model
        for i in range(0, len(request.inputs), 10):
            part = await super().embed(msgspec.structs.replace(request, inputs=request.inputs[i : i + 10]), model, up)
            vectors.extend(part.vectors)
            tokens += part.input_tokens
            name = part.model
        return EmbedResponse(model=name, vectors=vectors, input_tokens=tokens)
