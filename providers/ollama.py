"""Ollama native upstream: /api/chat (NDJSON streaming read line by line, lines may be far
over 64 KB), /api/embed, /api/tags. `stream` is always sent explicitly because Ollama streams by default;
tool-call ids are made up where the server gives none; `done_reason` + counts map to unified stops/usage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from providers.base import HTTPProvider, ModelInfo
from providers.images import fetcher_for, not_fetched
from providers.sse import Frame, FramedStream, NDJSONFramer
from unified import fields
from unified.errors import GatewayError
from unified.ids import mint
from unified.provider import EventStream, Upstream
from unified.types import (
    DocumentPart,
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
    arguments_object,
)


class OllamaOptions(msgspec.Struct, forbid_unknown_fields=True):
    keep_alive: str | int | None = None  # sent with every request ("5m", "1h", -1 = keep loaded)
    num_ctx: int | None = None  # default context window when a client did not ask for one
    options: dict[str, Any] = {}  # further Ollama `options` sent with every request


# ---------------------------------------------------------------------------------------------- wire (read side)


class _Function(msgspec.Struct):
    name: str = ""
    arguments: Any = None


class _ToolCall(msgspec.Struct):
    function: _Function
    id: str | None = None


class _Message(msgspec.Struct):
    content: str | None = None
    thinking: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _ChatLine(msgspec.Struct):
    model: str = ""
    message: _Message | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    error: str | None = None


class _Embed(msgspec.Struct):
    embeddings: list[list[float]] = []
    model: str = ""
    prompt_eval_count: int | None = None


class _Details(msgspec.Struct):
    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    context_length: int | None = None


class _Tag(msgspec.Struct):
    name: str = ""
    model: str = ""
    size: int = 0
    digest: str | None = None
    details: _Details | None = None
    capabilities: list[str] | None = None


class _Tags(msgspec.Struct):
    models: list[_Tag] = []


_decode_line = msgspec.json.Decoder(_ChatLine).decode
_encode = msgspec.json.Encoder().encode


def _usage(line: _ChatLine) -> Usage:
    return Usage(input_tokens=line.prompt_eval_count or 0, output_tokens=line.eval_count or 0)


def _stop(done_reason: str | None, saw_calls: bool) -> StopReason:
    if done_reason == "length":
        return "length"
    return "tool_calls" if saw_calls else "stop"  # Ollama says "stop" for tool calls too


def _args_text(arguments: Any) -> str:
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):  # a few servers/proxies send strings
        return arguments or "{}"
    return _encode(arguments).decode()


class OllamaProvider(HTTPProvider):
    type: ClassVar[str] = "ollama"
    carries: ClassVar[frozenset[str]] = fields.OLLAMA_ONLY  # an Ollama client's own options and keep_alive
    flushes: ClassVar[bool] = True
    free: ClassVar[bool] = True  # a local model: no money changes hands
    Options = OllamaOptions
    default_base_url: ClassVar[str | None] = "http://localhost:11434"
    native_apis: ClassVar[dict[str, str]] = {"ollama.chat": "/api/chat", "ollama.generate": "/api/generate"}

    @classmethod
    def builtin_default(cls, env: Mapping[str, str]) -> dict[str, Any] | None:
        """Local Ollama is always offered (its models are listed live); OLLAMA_HOST as the ollama CLI reads it."""
        host = env.get("OLLAMA_HOST") or "http://localhost:11434"
        if "://" not in host:
            host = "http://" + host
        return {"providers": {"ollama": {"type": "ollama", "base_url": host}}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options: OllamaOptions = self.options or OllamaOptions()
        if self.base_url.endswith("/v1"):  # a common slip: the native API lives at the root
            self.base_url = self.base_url[:-3]
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:  # ollama.com cloud
            self.headers["Authorization"] = f"Bearer {self.config.api_key}"
        self.headers.update(self.config.headers)
        self.images = fetcher_for(self.config)  # Ollama takes only inline images: URLs only if asked

    async def close(self) -> None:
        if self.images is not None:
            await self.images.close()

    # ------------------------------------------------------------------------------------------- request

    async def _image_b64(self, part: ImagePart) -> str:
        if part.data:
            return part.data
        if self.images is None:
            raise not_fetched(self.name, part.url or "")
        return await self.images.fetch_b64(part.url or "")

    async def encode_messages(self, messages: list[Message]) -> list[dict[str, Any]]:
        # Many Ollama chat templates honour only one system message: merge them into one leading message.
        system = "\n\n".join(
            "".join(p.text for p in m.content if isinstance(p, TextPart)) for m in messages if m.role == "system"
        )
        out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        names: dict[str, str] = {}  # call id -> tool name, for tool_name on results
        for m in messages:
            if m.role == "system":
                continue
            if m.role == "assistant":
                msg: dict[str, Any] = {
                    "role": "assistant",
                    "content": "".join(p.text for p in m.content if isinstance(p, TextPart)),
                }
                thinking = "".join(p.text for p in m.content if isinstance(p, ThinkingPart))
                if thinking:
                    msg["thinking"] = thinking
                calls: list[dict[str, Any]] = []
                for p in m.content:
                    if isinstance(p, ToolCallPart):
                        names[p.id] = p.name
                        calls.append(
                            {
                                "id": p.id,
                                "function": {
                                    "index": len(calls),
                                    "name": p.name,
                                    "arguments": arguments_object(p.arguments),
                                },
                            }
                        )
                if calls:
                    msg["tool_calls"] = calls
                out.append(msg)
                continue
            texts: list[str] = []
            images: list[str] = []
            for p in m.content:
                if isinstance(p, ToolResultPart):
                    text = "".join(c.text for c in p.content if isinstance(c, TextPart))
                    result: dict[str, Any] = {
                        "role": "tool",
                        "content": f"Error: {text}" if p.is_error else text,
                        "tool_call_id": p.tool_call_id,
                    }
                    name = p.name or names.get(p.tool_call_id)
                    if name:
                        result["tool_name"] = name
                    imgs = [await self._image_b64(c) for c in p.content if isinstance(c, ImagePart)]
                    if imgs:
                        result["images"] = imgs
                    out.append(result)
                elif isinstance(p, TextPart):
                    texts.append(p.text)
                elif isinstance(p, ImagePart):
                    images.append(await self._image_b64(p))
                elif isinstance(p, DocumentPart):
                    raise GatewayError("invalid_request", f"provider {self.name!r} (ollama) does not accept documents")
            if texts or images:
                user: dict[str, Any] = {"role": "user", "content": "\n".join(texts)}
                if images:
                    user["images"] = images
                out.append(user)
        return out

    async def encode_request(self, req: Request, model: str, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": await self.encode_messages(req.messages), "stream": stream}
        tc = req.tool_choice
        if req.tools and not (tc is not None and tc.mode == "none"):  # Ollama has no tool_choice
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description or "",
                        "parameters": t.parameters or {"type": "object", "properties": {}},
                    },
                }
                for t in req.tools
            ]
        opts: dict[str, Any] = dict(self.options.options)
        if self.options.num_ctx:
            opts["num_ctx"] = self.options.num_ctx
        extra = req.extra or {}
        for key in ("min_p", "typical_p"):
            if key in extra:
                opts[key] = extra[key]
        if "repetition_penalty" in extra:
            opts["repeat_penalty"] = extra["repetition_penalty"]
        own = extra.get("ollama:options")
        if isinstance(own, dict):
            opts.update(own)
        for key, value in (
            ("num_predict", req.max_tokens),
            ("temperature", req.temperature),
            ("top_p", req.top_p),
            ("top_k", req.top_k),
            ("seed", req.seed),
            ("stop", req.stop),
            ("presence_penalty", req.presence_penalty),
            ("frequency_penalty", req.frequency_penalty),
        ):
            if value is not None:
                opts[key] = value
        if opts:
            body["options"] = opts
        rf = req.response_format
        if rf is not None and rf.type != "text":
            body["format"] = rf.schema if rf.type == "json_schema" and rf.schema else "json"
        r = req.reasoning
        if r is not None:
            if not r.enabled or r.effort in ("none", "minimal"):
                body["think"] = False
            elif r.effort in ("low", "medium", "high"):
                body["think"] = r.effort
            elif r.effort in ("xhigh", "max"):
                body["think"] = "high"
            else:
                body["think"] = True
        keep_alive = extra.get("ollama:keep_alive", self.options.keep_alive)
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        return body

    # ------------------------------------------------------------------------------------------- calls

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        body = _encode(await self.encode_request(request, model, stream=False))
        resp = await self.post("/api/chat", body, self.headers_for(), up)
        data: _ChatLine = await self.read_json(resp, _ChatLine)
        if data.error:
            raise GatewayError("api_error", data.error, status=502)
        msg = data.message or _Message()
        content: list[Any] = []
        if msg.thinking:
            content.append(ThinkingPart(text=msg.thinking))
        if msg.content:
            content.append(TextPart(text=msg.content))
        for tc in msg.tool_calls or []:
            content.append(
                ToolCallPart(
                    id=tc.id or mint("call_", 8), name=tc.function.name, arguments=_args_text(tc.function.arguments)
                )
            )
        return Response(
            id=mint("ollama-"),
            model=data.model or model,
            content=content,
            stop_reason=_stop(data.done_reason, bool(msg.tool_calls)),
            usage=_usage(data),
        )

    async def open_stream(self, request: Request, model: str, up: Upstream) -> EventStream:
        body = _encode(await self.encode_request(request, model, stream=True))
        resp = await self.post("/api/chat", body, self.headers_for("application/x-ndjson"), up, stream=True)
        return FramedStream(resp, NDJSONFramer(self.name), _LineDecoder(model, self.name))

    async def embed(self, request: EmbedRequest, model: str, up: Upstream) -> EmbedResponse:
        body: dict[str, Any] = {"model": model, "input": request.inputs, "truncate": True}
        if request.dimensions:
            body["dimensions"] = request.dimensions
        if self.options.keep_alive is not None:
            body["keep_alive"] = self.options.keep_alive
        resp = await self.post("/api/embed", _encode(body), self.headers_for(), up)
        data: _Embed = await self.read_json(resp, _Embed)
        return EmbedResponse(
            model=data.model or model, vectors=data.embeddings, input_tokens=data.prompt_eval_count or 0
        )

    async def list_models(self) -> list[ModelInfo]:
        if self.config.models is not None:
            return await super().list_models()
        data = msgspec.convert(await self.get_json("/api/tags", self.headers), _Tags)
        out = []
        for t in data.models:
            d = t.details or _Details()
            out.append(
                ModelInfo(
                    id=t.model or t.name,
                    size=t.size,
                    digest=t.digest,
                    family=d.family,
                    parameter_size=d.parameter_size,
                    quantization_level=d.quantization_level,
                    context_length=d.context_length,
                    capabilities=t.capabilities,
                )
            )
        return out


class _LineDecoder:
    """/api/chat NDJSON lines -> unified events (providers.sse.Decoder)."""

    __slots__ = ("calls", "model", "name", "started")

    def __init__(self, model: str, name: str) -> None:
        self.model = model
        self.name = name
        self.started = False
        self.calls = 0

    def feed(self, frame: Frame, out: list[Event]) -> bool:
        try:
            line = _decode_line(frame[1])
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise GatewayError("api_error", f"upstream {self.name!r} sent an invalid stream line", status=502) from None
        if line.error:
            raise GatewayError("api_error", line.error, status=502)
        if not self.started:
            self.started = True
            out.append(Start(id=mint("ollama-"), model=line.model or self.model))
        msg = line.message
        if msg is not None:
            if msg.thinking:
                out.append(ThinkingDelta(text=msg.thinking))
            if msg.content:
                out.append(TextDelta(text=msg.content))
            for tc in msg.tool_calls or []:  # Ollama sends every call whole, in one line
                out.append(ToolCallStart(index=self.calls, id=tc.id or mint("call_", 8), name=tc.function.name))
                out.append(ToolCallDelta(index=self.calls, arguments=_args_text(tc.function.arguments)))
                self.calls += 1
        if line.done:
            out.append(Finish(stop_reason=_stop(line.done_reason, self.calls > 0), usage=_usage(line)))
            return True
        return False

    def end(self, out: list[Event]) -> None:
        if not self.started:
            raise GatewayError("api_error", f"upstream {self.name!r} closed the stream without data", status=502)
        raise GatewayError("upstream_unreachable", f"upstream {self.name!r} ended the stream early")
