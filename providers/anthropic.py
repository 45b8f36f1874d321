"""Anthropic Messages upstream (api.anthropic.com and Anthropic-compatible endpoints).

Translation rules (protocols.md §5): system prompts hoisted to the top-level `system`; same-role turns merged
and a user turn first; tool results placed first in the user turn right after their calls (a call without
a result gets a synthetic one, a result without a call is a 400 naming the id); `max_tokens` always sent
(the client's, else the provider's `max_tokens` setting, else 4096); `temperature` and `top_p` never both;
thinking blocks only replayed when they carry Anthropic's signature."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar, Literal

import msgspec

from providers.base import HTTPProvider, ModelInfo, drop_none
from providers.sse import iter_sse
from unified.errors import GatewayError, invalid
from unified.ids import mint
from unified.types import (
    FLUSH,
    DocumentPart,
    Event,
    Finish,
    ImagePart,
    Message,
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
    ToolResultPart,
    Usage,
    arguments_object,
)

DEFAULT_MAX_TOKENS = 4096
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# reasoning effort (OpenAI / Ollama clients) -> thinking budget
EFFORT_BUDGET = {"low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768, "max": 32768}
NO_RESULT = "(no result)"


class AnthropicOptions(msgspec.Struct, forbid_unknown_fields=True):
    version: str = "2023-06-01"  # anthropic-version header
    beta: list[str] = []  # anthropic-beta features to request on every call


# ---------------------------------------------------------------------------------------------- wire (read side)


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class _Block(msgspec.Struct):
    """Any content block; fields of the types we do not translate are simply absent."""

    type: str
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class _Message(msgspec.Struct):
    type: Literal["message"] = "message"  # a 200 carrying {"type": "error"} fails here: a 502 with its message
    id: str = ""
    model: str = ""
    content: list[_Block] = []
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: _Usage | None = None


class _Delta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class _Error(msgspec.Struct):
    type: str = "api_error"
    message: str = ""


class _Event(msgspec.Struct):
    type: str
    message: _Message | None = None
    index: int | None = None
    content_block: _Block | None = None
    delta: _Delta | None = None
    usage: _Usage | None = None
    error: _Error | None = None


class _Count(msgspec.Struct):
    input_tokens: int


class _Model(msgspec.Struct):
    id: str
    created_at: str | None = None


class _Models(msgspec.Struct):
    data: list[_Model] = []


_decode_event = msgspec.json.Decoder(_Event).decode
_encode = msgspec.json.Encoder().encode

STOP: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop_sequence",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
}
# In-stream error types -> (kind, status), for failures reported after a 200
_ERROR_KINDS = {
    "invalid_request_error": ("invalid_request", 400),
    "authentication_error": ("authentication", 401),
    "permission_error": ("permission", 403),
    "not_found_error": ("not_found", 404),
    "request_too_large": ("request_too_large", 413),
    "rate_limit_error": ("rate_limit", 429),
    "overloaded_error": ("overloaded", 529),
    "timeout_error": ("timeout", 504),
}
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def tool_id(raw: str) -> str:
    """Anthropic ids must match ^[a-zA-Z0-9_-]+$; the mapping is deterministic so calls and results pair."""
    return _BAD_ID_CHARS.sub("_", raw) if raw else "toolu_empty"


def usage_from(u: _Usage | None) -> Usage:
    """Anthropic's input_tokens excludes cache reads and writes; the unified figure includes them."""
    if u is None:
        return Usage()
    cache_read = u.cache_read_input_tokens or 0
    cache_write = u.cache_creation_input_tokens or 0
    return Usage(
        input_tokens=(u.input_tokens or 0) + cache_read + cache_write,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_write,
    )


def _cc(block: dict[str, Any], part: Any) -> dict[str, Any]:
    if part.cache_control is not None:
        block["cache_control"] = part.cache_control
    return block


def _created(ts: str | None) -> int:
    if not ts:
        return 0
    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


# ---------------------------------------------------------------------------------------------- request


def _image(p: ImagePart) -> dict[str, Any]:
    if p.url:
        return _cc({"type": "image", "source": {"type": "url", "url": p.url}}, p)
    if p.media_type not in IMAGE_TYPES:
        raise invalid(f"image type {p.media_type!r} is not supported by Anthropic (use jpeg, png, gif or webp)")
    return _cc({"type": "image", "source": {"type": "base64", "media_type": p.media_type, "data": p.data}}, p)


def _document(p: DocumentPart) -> dict[str, Any]:
    if p.media_type.startswith("text/"):
        text = base64.b64decode(p.data).decode("utf-8", "replace")
        block: dict[str, Any] = {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
        }
    elif p.media_type == "application/pdf":
        block = {"type": "document", "source": {"type": "base64", "media_type": p.media_type, "data": p.data}}
    else:
        raise invalid(f"document type {p.media_type!r} is not supported by Anthropic (PDF or plain text only)")
    if p.title:
        block["title"] = p.title
    return _cc(block, p)


def _result(p: ToolResultPart) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(p.tool_call_id)}
    content: list[dict[str, Any]] = []
    for c in p.content:
        if isinstance(c, TextPart):
            if c.text:
                content.append(_cc({"type": "text", "text": c.text}, c))
        else:
            content.append(_image(c))
    if content:
        only = content[0]
        # A lone uncached text is sent as a plain string: the shortest form every compatible server reads.
        block["content"] = (
            only["text"] if len(content) == 1 and only["type"] == "text" and "cache_control" not in only else content
        )
    if p.is_error:
        block["is_error"] = True
    return _cc(block, p)


def _blocks(m: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, TextPart):
            if p.text:
                out.append(_cc({"type": "text", "text": p.text}, p))
        elif isinstance(p, ToolCallPart):
            out.append(
                _cc(
                    {"type": "tool_use", "id": tool_id(p.id), "name": p.name, "input": arguments_object(p.arguments)}, p
                )
            )
        elif isinstance(p, ToolResultPart):
            out.append(_result(p))
        elif isinstance(p, ImagePart):
            out.append(_image(p))
        elif isinstance(p, DocumentPart):
            out.append(_document(p))
        elif isinstance(p, ThinkingPart):
            # Only Anthropic's own signed thinking can be replayed; thinking from other models is dropped.
            if p.redacted:
                out.append({"type": "redacted_thinking", "data": p.redacted})
            elif p.signature and m.role == "assistant":
                out.append({"type": "thinking", "thinking": p.text, "signature": p.signature})
    return out


def encode_messages(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages) in the shape the Messages API accepts."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            system.extend(
                _cc({"type": "text", "text": p.text}, p) for p in m.content if isinstance(p, TextPart) and p.text
            )
            continue
        blocks = _blocks(m)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": m.role, "content": blocks})
    _pair_tool_results(turns)
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    if turns and turns[-1]["role"] == "assistant":
        _trim_prefill(turns)
    return system, turns


def _pair_tool_results(turns: list[dict[str, Any]]) -> None:
    """Every tool_use needs its tool_result first in the very next user turn: move results there, add a
    synthetic result for a call that has none, and reject a result no call asked for."""
    i = 0
    while i < len(turns):
        turn = turns[i]
        if turn["role"] == "assistant":
            calls = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
            if calls:
                if i + 1 >= len(turns) or turns[i + 1]["role"] != "user":
                    turns.insert(i + 1, {"role": "user", "content": []})
                nxt = turns[i + 1]["content"]
                results = {b["tool_use_id"]: b for b in nxt if b["type"] == "tool_result"}
                for b in results.values():
                    if b["tool_use_id"] not in calls:
                        raise invalid(
                            f"tool result for id {b['tool_use_id']!r} does not follow a tool call with that id"
                        )
                ordered = [
                    results.get(c) or {"type": "tool_result", "tool_use_id": c, "content": NO_RESULT} for c in calls
                ]
                turns[i + 1]["content"] = ordered + [b for b in nxt if b["type"] != "tool_result"]
                i += 2
                continue
        else:
            for b in turn["content"]:
                if b["type"] == "tool_result":
                    raise invalid(f"tool result for id {b['tool_use_id']!r} does not follow a tool call with that id")
        i += 1


def _trim_prefill(turns: list[dict[str, Any]]) -> None:
    """A final assistant turn is a prefill, which must not end in whitespace."""
    last = turns[-1]["content"]
    if last and last[-1]["type"] == "text":
        text = last[-1]["text"].rstrip()
        if text:
            last[-1]["text"] = text
        else:
            last.pop()
    if not last:
        turns.pop()


class AnthropicProvider(HTTPProvider):
    type: ClassVar[str] = "anthropic"
    flushes: ClassVar[bool] = True
    Options = AnthropicOptions
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"

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

    # ------------------------------------------------------------------------------------------- request

    def _common(self, req: Request, model: str) -> dict[str, Any]:
        """Fields shared by /messages and /messages/count_tokens."""
        system, messages = encode_messages(req.messages)
        if not messages:
            raise invalid("messages: at least one message with content is required", "messages")
        body: dict[str, Any] = {"model": model, "messages": messages}
        rf = req.response_format
        if rf is not None and rf.type == "json_object":
            system.append({"type": "text", "text": "Respond with a single valid JSON object and nothing else."})
        if system:
            cached = any("cache_control" in b for b in system)
            body["system"] = system if cached else "\n\n".join(b["text"] for b in system)
        if req.tools:
            tc = req.tool_choice
            body["tools"] = [
                _cc(
                    drop_none(
                        {"name": t.name, "description": t.description, "input_schema": _input_schema(t.parameters)}
                    ),
                    t,
                )
                for t in req.tools
            ]
            if tc is not None:
                choice: dict[str, Any] = {
                    "type": {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[tc.mode]
                }
                if tc.mode == "tool":
                    choice["name"] = tc.name
                if tc.parallel is False and tc.mode != "none":
                    choice["disable_parallel_tool_use"] = True
                body["tool_choice"] = choice
        if rf is not None and rf.type == "json_schema" and rf.schema:
            body["output_config"] = {"format": {"type": "json_schema", "schema": rf.schema}}
        return body

    def encode_request(self, req: Request, model: str, stream: bool) -> dict[str, Any]:
        if req.n is not None and req.n > 1:
            raise invalid("n: Anthropic models return one choice per request", "n")
        body = self._common(req, model)
        max_tokens = req.max_tokens or self.default_max_tokens
        thinking = self._thinking(req)
        if thinking is not None and thinking.get("type") == "enabled":
            if thinking["budget_tokens"] >= max_tokens:
                if req.max_tokens is None:
                    max_tokens = thinking["budget_tokens"] + self.default_max_tokens
                else:
                    thinking["budget_tokens"] = max_tokens - 1
                    if thinking["budget_tokens"] < 1024:  # no room to think: answer without thinking
                        thinking = None
        body["max_tokens"] = max_tokens
        if thinking is not None:
            body["thinking"] = thinking
        thinking_on = thinking is not None and thinking["type"] != "disabled"
        if thinking_on:
            # With thinking the API only accepts default temperature, no top_k, and top_p in [0.95, 1].
            if req.top_p is not None and 0.95 <= req.top_p <= 1:
                body["top_p"] = req.top_p
        else:
            if req.temperature is not None:
                body["temperature"] = min(max(req.temperature, 0.0), 1.0)  # OpenAI's 0..2 clamped to 0..1
            elif req.top_p is not None:
                body["top_p"] = req.top_p
            if req.top_k is not None:
                body["top_k"] = req.top_k
        if req.stop:
            body["stop_sequences"] = req.stop
        if req.user:
            body["metadata"] = {"user_id": req.user}
        if stream:
            body["stream"] = True
        return body

    def _thinking(self, req: Request) -> dict[str, Any] | None:
        r = req.reasoning
        if r is None:
            return None
        if not r.enabled or r.effort in ("none", "minimal"):
            return {"type": "disabled"}
        if r.budget_tokens:
            return {"type": "enabled", "budget_tokens": max(1024, r.budget_tokens)}
        if r.effort in EFFORT_BUDGET:
            return {"type": "enabled", "budget_tokens": EFFORT_BUDGET[r.effort]}
        return {"type": "adaptive"}

    # ------------------------------------------------------------------------------------------- calls

    async def chat(self, request: Request, model: str) -> Response:
        body = _encode(self.encode_request(request, model, stream=False))
        resp = await self.post(self.prefix + "/messages", body, self.headers_for())
        data: _Message = await self.read_json(resp, _Message)
        content: list[Part] = []
        for b in data.content:
            if b.type == "text":
                if b.text:
                    content.append(TextPart(text=b.text))
            elif b.type == "tool_use":
                args = b.input if b.input is not None else {}
                content.append(
                    ToolCallPart(id=b.id or mint("toolu_"), name=b.name or "", arguments=_encode(args).decode())
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

    async def stream(self, request: Request, model: str) -> AsyncIterator[Event]:
        body = _encode(self.encode_request(request, model, stream=True))
        resp = await self.post(self.prefix + "/messages", body, self.headers_for("text/event-stream"), stream=True)
        try:
            async for event in self._events(resp, model):
                yield event
        finally:
            resp.release()

    async def _events(self, resp: Any, model: str) -> AsyncIterator[Event]:
        usage = _Usage()
        stop: str | None = None
        stop_sequence: str | None = None
        started = False
        calls: dict[int, int] = {}  # block index -> tool-call index
        args_seen: set[int] = set()  # tool calls that received a non-empty argument fragment
        async for _, data in iter_sse(resp, self.name):
            if not data:
                yield FLUSH
                continue
            try:
                ev = _decode_event(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise GatewayError(
                    "api_error", f"upstream {self.name!r} sent an invalid stream event", status=502
                ) from None
            t = ev.type
            if t == "content_block_delta":
                d = ev.delta
                if d is None:
                    continue
                if d.type == "text_delta":
                    if d.text:
                        yield TextDelta(text=d.text)
                elif d.type == "input_json_delta":
                    k = calls.get(ev.index if ev.index is not None else -1)
                    if k is not None and d.partial_json:
                        args_seen.add(k)
                        yield ToolCallDelta(index=k, arguments=d.partial_json)
                elif d.type == "thinking_delta":
                    if d.thinking:
                        yield ThinkingDelta(text=d.thinking)
                elif d.type == "signature_delta":
                    if d.signature:
                        yield ThinkingDelta(signature=d.signature)
                # citations_delta and unknown delta types carry nothing we translate
            elif t == "content_block_start":
                b = ev.content_block
                if b is None:
                    continue
                if b.type == "tool_use":
                    k = len(calls)
                    calls[ev.index if ev.index is not None else k] = k
                    yield ToolCallStart(index=k, id=b.id or mint("toolu_"), name=b.name or "")
                    if isinstance(b.input, dict) and b.input:  # some compatible servers send it whole
                        args_seen.add(k)
                        yield ToolCallDelta(index=k, arguments=_encode(b.input).decode())
                elif b.type == "text":
                    if b.text:
                        yield TextDelta(text=b.text)
                elif b.type == "thinking":
                    if b.thinking:
                        yield ThinkingDelta(text=b.thinking)
                elif b.type == "redacted_thinking":
                    yield ThinkingDelta(redacted=b.data or "")
            elif t == "content_block_stop":
                k = calls.get(ev.index if ev.index is not None else -1)
                if k is not None and k not in args_seen:
                    args_seen.add(k)
                    yield ToolCallDelta(index=k, arguments="{}")  # a no-argument call: "" means {}
            elif t == "message_start":
                m = ev.message or _Message()
                if m.usage is not None:
                    usage = m.usage
                started = True
                yield Start(id=m.id, model=m.model or model, input_tokens=usage_from(usage).input_tokens)
            elif t == "message_delta":
                if ev.delta is not None and ev.delta.stop_reason:
                    stop = ev.delta.stop_reason
                    stop_sequence = ev.delta.stop_sequence
                u = ev.usage
                if u is not None:  # cumulative figures: each one present replaces the earlier
                    for field in (
                        "input_tokens",
                        "output_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    ):
                        value = getattr(u, field)
                        if value is not None:
                            setattr(usage, field, value)
            elif t == "message_stop":
                yield Finish(
                    stop_reason=STOP.get(stop or "end_turn", "stop"),
                    usage=usage_from(usage),
                    stop_sequence=stop_sequence,
                )
                return
            elif t == "error":
                e = ev.error or _Error()
                kind, status = _ERROR_KINDS.get(e.type, ("api_error", 502))
                raise GatewayError(kind, e.message or e.type, status=status)
            # ping and unknown event types are ignored
        if not started:
            raise GatewayError("api_error", f"upstream {self.name!r} closed the stream without data", status=502)
        if stop is None:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} ended the stream early")
        # message_delta came but message_stop did not: the answer is complete, finish normally
        yield Finish(stop_reason=STOP.get(stop, "stop"), usage=usage_from(usage), stop_sequence=stop_sequence)

    async def count_tokens(self, request: Request, model: str) -> int | None:
        body = self._common(request, model)
        thinking = self._thinking(request)
        if thinking is not None:
            body["thinking"] = thinking
        resp = await self.post(self.prefix + "/messages/count_tokens", _encode(body), self.headers_for())
        data: _Count = await self.read_json(resp, _Count)
        return data.input_tokens

    async def list_models(self) -> list[ModelInfo]:
        if self.config.models is not None:
            return await super().list_models()
        data = msgspec.convert(await self.get_json(self.prefix + "/models?limit=1000", self.headers), _Models)
        return [ModelInfo(id=m.id, created=_created(m.created_at)) for m in data.data]


def _input_schema(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic requires an object schema; a tool without parameters takes an empty object."""
    if not parameters:
        return {"type": "object", "properties": {}}
    if "type" not in parameters:
        return {"type": "object", **parameters}
    return parameters
