"""OpenAI Chat Completions upstream: api.openai.com and every OpenAI-compatible server (vLLM, llama.cpp,
DeepSeek, GLM, Moonshot, OpenRouter, Ollama's /v1 ...)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

import msgspec

from providers.base import HTTPProvider, ModelInfo, drop_none
from providers.sse import iter_sse
from unified.errors import GatewayError
from unified.ids import mint
from unified.types import (
    FLUSH,
    EmbedRequest,
    EmbedResponse,
    Event,
    Finish,
    ImagePart,
    Message,
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
    ToolResultPart,
    Usage,
)


class OpenAIOptions(msgspec.Struct, forbid_unknown_fields=True):
    # Which body field carries the output cap: api.openai.com wants max_completion_tokens (reasoning
    # models reject max_tokens); most compatible servers only read max_tokens. None = decide by host.
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] | None = None
    # Send assistant thinking back as `reasoning_content` (DeepSeek/Qwen/GLM convention).
    send_reasoning_content: bool = False
    # Clamp temperature/top_p into the open interval (0, 1) (Zhipu GLM).
    clamp_unit_interval: bool = False
    # Strip the data:...;base64, prefix from image URLs (GLM wants raw base64 or http URLs).
    raw_base64_images: bool = False
    organization: str | None = None
    project: str | None = None


# ---------------------------------------------------------------------------------------------- wire (read side)


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    index: int | None = None
    id: str | None = None
    function: _Function | None = None


class _Message(msgspec.Struct):
    content: Any = None  # str, null, or (a few servers) a parts list
    tool_calls: list[_ToolCall] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None


class _Choice(msgspec.Struct):
    index: int = 0
    message: _Message | None = None
    delta: _Message | None = None
    finish_reason: str | None = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = 0


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = 0


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _Completion(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[_Choice] = []
    usage: _Usage | None = None
    error: Any = None


class _Embedding(msgspec.Struct):
    embedding: list[float]
    index: int = 0


class _Embeddings(msgspec.Struct):
    data: list[_Embedding]
    model: str = ""
    usage: _Usage | None = None


class _Model(msgspec.Struct):
    id: str
    created: int = 0


class _Models(msgspec.Struct):
    data: list[_Model] = []


_decode_chunk = msgspec.json.Decoder(_Completion).decode
_encode = msgspec.json.Encoder().encode

_FINISH: dict[str, StopReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "sensitive": "content_filter",  # Zhipu moderation
}

_ID_OK = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def fit_tool_id(tool_id: str) -> str:
    """OpenAI rejects tool call ids over 40 characters; map long or odd ids the same way for a call and
    its result so they still pair."""
    if _ID_OK.match(tool_id):
        return tool_id
    return "call_" + hashlib.sha256(tool_id.encode()).hexdigest()[:32]


def usage_from(u: _Usage | None) -> Usage:
    if u is None:
        return Usage()
    return Usage(
        input_tokens=u.prompt_tokens or 0,
        output_tokens=u.completion_tokens or 0,
        cache_read_tokens=(u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0,
        reasoning_tokens=(u.completion_tokens_details.reasoning_tokens or 0) if u.completion_tokens_details else 0,
    )


def _finish_reason(reason: str | None, saw_tool_calls: bool) -> StopReason:
    if reason == "network_error":
        raise GatewayError("upstream_unreachable", "upstream reported a network error")
    mapped = _FINISH.get(reason or "stop", "stop")
    if saw_tool_calls and mapped == "stop":
        return "tool_calls"
    return mapped


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


class OpenAIProvider(HTTPProvider):
    type: ClassVar[str] = "openai"
    flushes: ClassVar[bool] = True
    Options = OpenAIOptions
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts: OpenAIOptions = self.options or OpenAIOptions()
        self.options = opts
        self.max_tokens_param = opts.max_tokens_param or (
            "max_completion_tokens" if "api.openai.com" in self.base_url else "max_tokens"
        )
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            self.headers["Authorization"] = f"Bearer {self.config.api_key}"
        if opts.organization:
            self.headers["OpenAI-Organization"] = opts.organization
        if opts.project:
            self.headers["OpenAI-Project"] = opts.project
        self.headers.update(self.config.headers)

    # ------------------------------------------------------------------------------------------- request

    def _image_url(self, part: ImagePart) -> str:
        if part.url:
            return part.url
        if self.options.raw_base64_images:
            return part.data or ""
        return f"data:{part.media_type or 'image/png'};base64,{part.data}"

    def _user_content(self, parts: list[Any]) -> str | list[dict[str, Any]]:
        if all(isinstance(p, TextPart) for p in parts):
            return "".join(p.text for p in parts) if len(parts) != 1 else parts[0].text
        out: list[dict[str, Any]] = []
        for p in parts:
            if isinstance(p, TextPart):
                out.append({"type": "text", "text": p.text})
            elif isinstance(p, ImagePart):
                out.append({"type": "image_url", "image_url": {"url": self._image_url(p)}})
            else:  # DocumentPart: OpenAI takes PDFs as file parts
                out.append(
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:{p.media_type};base64,{p.data}",
                            "filename": p.title or "document.pdf",
                        },
                    }
                )
        return out

    def encode_messages(self, messages: list[Message]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in messages:
            if m.role == "system":
                out.append(
                    {"role": "system", "content": "\n\n".join(p.text for p in m.content if isinstance(p, TextPart))}
                )
            elif m.role == "assistant":
                text = "".join(p.text for p in m.content if isinstance(p, TextPart))
                msg: dict[str, Any] = {"role": "assistant", "content": text or None}
                calls = [
                    {
                        "id": fit_tool_id(p.id),
                        "type": "function",
                        "function": {"name": p.name, "arguments": p.arguments},
                    }
                    for p in m.content
                    if isinstance(p, ToolCallPart)
                ]
                if calls:
                    msg["tool_calls"] = calls
                elif not text:
                    msg["content"] = ""
                if self.options.send_reasoning_content:
                    thinking = "".join(p.text for p in m.content if isinstance(p, ThinkingPart))
                    if thinking:
                        msg["reasoning_content"] = thinking
                out.append(msg)
            else:
                rest: list[Any] = []
                moved_images: list[Any] = []
                for p in m.content:
                    if isinstance(p, ToolResultPart):
                        text = "".join(c.text for c in p.content if isinstance(c, TextPart))
                        moved_images.extend(c for c in p.content if isinstance(c, ImagePart))
                        if p.is_error:
                            text = f"Error: {text}"
                        out.append({"role": "tool", "tool_call_id": fit_tool_id(p.tool_call_id), "content": text})
                    else:
                        rest.append(p)
                # A tool message cannot carry images: they follow in a user message.
                rest = moved_images + rest
                if rest:
                    out.append({"role": "user", "content": self._user_content(rest)})
        return out

    def encode_request(self, req: Request, model: str, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": self.encode_messages(req.messages)}
        if req.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": drop_none(
                        {"name": t.name, "description": t.description, "parameters": t.parameters, "strict": t.strict}
                    ),
                }
                for t in req.tools
            ]
            tc = req.tool_choice
            if tc is not None:
                if tc.mode == "tool":
                    body["tool_choice"] = {"type": "function", "function": {"name": tc.name}}
                else:
                    body["tool_choice"] = tc.mode
                if tc.parallel is False:
                    body["parallel_tool_calls"] = False
        if req.max_tokens is not None:
            body[self.max_tokens_param] = req.max_tokens
        temperature, top_p = req.temperature, req.top_p
        if self.options.clamp_unit_interval:
            temperature = None if temperature is None else min(max(temperature, 0.01), 0.99)
            top_p = None if top_p is None else min(max(top_p, 0.01), 0.99)
        for key, value in (
            ("temperature", temperature),
            ("top_p", top_p),
            ("seed", req.seed),
            ("presence_penalty", req.presence_penalty),
            ("frequency_penalty", req.frequency_penalty),
            ("stop", req.stop),
            ("n", req.n),
            ("user", req.user),
        ):
            if value is not None:
                body[key] = value
        rf = req.response_format
        if rf is not None and rf.type != "text":
            if rf.type == "json_object":
                body["response_format"] = {"type": "json_object"}
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": drop_none({"name": rf.name or "response", "schema": rf.schema, "strict": rf.strict}),
                }
        if req.reasoning is not None:
            if not req.reasoning.enabled:
                body["reasoning_effort"] = "none"
            elif req.reasoning.effort:
                body["reasoning_effort"] = req.reasoning.effort
            elif req.reasoning.budget_tokens:
                b = req.reasoning.budget_tokens
                body["reasoning_effort"] = "low" if b <= 2048 else "medium" if b <= 8192 else "high"
        if req.extra:
            for key, value in req.extra.items():
                if ":" not in key:  # "kind:field" extras belong to another provider kind (e.g. ollama:options)
                    body.setdefault(key, value)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}  # token counts for metrics and clients
        self.adjust_body(body, req, stream)
        return body

    def adjust_body(self, body: dict[str, Any], req: Request, stream: bool) -> None:
        """Hook for compatible servers with quirks (see providers/aliyun.py)."""

    # ------------------------------------------------------------------------------------------- calls

    async def chat(self, request: Request, model: str) -> Response:
        body = _encode(self.encode_request(request, model, stream=False))
        resp = await self.post("/chat/completions", body, self.headers_for())
        data: _Completion = await self.read_json(resp, _Completion)
        if data.error is not None:
            raise _in_body_error(data.error)
        if not data.choices:
            raise GatewayError("api_error", "upstream returned no choices", status=502)
        choice = data.choices[0]
        msg = choice.message or _Message()
        content: list[Any] = []
        thinking = msg.reasoning_content or msg.reasoning
        if thinking:
            content.append(ThinkingPart(text=thinking))
        text = _text_of(msg.content) or (msg.refusal or "")
        if text:
            content.append(TextPart(text=text))
        for tc in msg.tool_calls or []:
            fn = tc.function or _Function()
            content.append(ToolCallPart(id=tc.id or mint("call_"), name=fn.name or "", arguments=fn.arguments or "{}"))
        return Response(
            id=data.id,
            model=data.model or model,
            content=content,
            stop_reason=_finish_reason(choice.finish_reason, bool(msg.tool_calls)),
            usage=usage_from(data.usage),
        )

    async def stream(self, request: Request, model: str) -> AsyncIterator[Event]:
        body = _encode(self.encode_request(request, model, stream=True))
        resp = await self.post("/chat/completions", body, self.headers_for("text/event-stream"), stream=True)
        try:
            async for event in self._events(resp, model):
                yield event
        finally:
            resp.release()

    async def _events(self, resp: Any, model: str) -> AsyncIterator[Event]:
        started = False
        finish: str | None = None
        usage: Usage | None = None
        # upstream tool index -> our index (some servers start at 1 or skip)
        calls: dict[int, int] = {}
        done = False
        async for _, data in iter_sse(resp, self.name):
            if not data:
                yield FLUSH
                continue
            if data.startswith(b"[DONE]"):
                done = True
                break
            try:
                chunk = _decode_chunk(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise GatewayError(
                    "api_error", f"upstream {self.name!r} sent an invalid stream chunk", status=502
                ) from None
            if chunk.error is not None:
                raise _in_body_error(chunk.error)
            if not started:
                started = True
                yield Start(id=chunk.id, model=chunk.model or model)
            if chunk.usage is not None:
                usage = usage_from(chunk.usage)
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                delta = choice.delta
                if delta is not None:
                    thinking = delta.reasoning_content or delta.reasoning
                    if thinking:
                        yield ThinkingDelta(text=thinking)
                    if delta.content:
                        text = _text_of(delta.content)
                        if text:
                            yield TextDelta(text=text)
                    if delta.tool_calls:
                        for tc in delta.tool_calls:
                            key = tc.index if tc.index is not None else len(calls)
                            fn = tc.function or _Function()
                            if key not in calls:
                                calls[key] = len(calls)
                                yield ToolCallStart(index=calls[key], id=tc.id or mint("call_"), name=fn.name or "")
                            if fn.arguments:
                                yield ToolCallDelta(index=calls[key], arguments=fn.arguments)
                if choice.finish_reason:
                    finish = choice.finish_reason
        if not started:
            raise GatewayError("api_error", f"upstream {self.name!r} closed the stream without data", status=502)
        if not done and finish is None:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} ended the stream early")
        yield Finish(stop_reason=_finish_reason(finish, bool(calls)), usage=usage or Usage())

    async def embed(self, request: EmbedRequest, model: str) -> EmbedResponse:
        body: dict[str, Any] = {"model": model, "input": request.inputs, "encoding_format": "float"}
        if request.dimensions:
            body["dimensions"] = request.dimensions
        resp = await self.post("/embeddings", _encode(body), self.headers_for())
        data: _Embeddings = await self.read_json(resp, _Embeddings)
        vectors = [e.embedding for e in sorted(data.data, key=lambda e: e.index)]
        return EmbedResponse(
            model=data.model or model,
            vectors=vectors,
            input_tokens=(data.usage.prompt_tokens or 0) if data.usage else 0,
        )

    async def list_models(self) -> list[ModelInfo]:
        if self.config.models is not None:
            return await super().list_models()
        data = msgspec.convert(await self.get_json("/models", self.headers), _Models)
        return [ModelInfo(id=m.id, created=m.created) for m in data.data]


def _in_body_error(error: Any) -> GatewayError:
    if isinstance(error, dict):
        message = str(error.get("message") or error)
        kind = str(error.get("type") or "")
        if "rate" in kind or error.get("code") in ("rate_limit_exceeded", "limit_requests"):
            return GatewayError("rate_limit", message)
        if "invalid_request" in kind:
            return GatewayError("invalid_request", message)
        return GatewayError("api_error", message, status=502)
    return GatewayError("api_error", str(error), status=502)
