"""Ollama wire <-> unified: /api/chat and /api/generate requests in; whole responses and NDJSON stream lines
out. Durations are nanoseconds taken from the gateway's own clock."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import msgspec

from dialects.ollama import schema as wire
from dialects.ollama.think import split_think
from unified import fields
from unified.errors import invalid
from unified.ids import mint
from unified.media import sniff_image_type
from unified.types import (
    ImagePart,
    Message,
    Part,
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
    Usage,
    arguments_object,
)

_encode = msgspec.json.encode
_THINK_LEVELS = ("low", "medium", "high")


_second = [0, ""]  # the formatted whole second, reused by every line written within it


def now_rfc3339() -> str:
    t = time.time()
    sec = int(t)
    if sec != _second[0]:
        _second[0], _second[1] = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_second[1]}.{int((t - sec) * 1_000_000):06d}Z"


# ---------------------------------------------------------------------------------------------- request


def _image(data: str, param: str) -> ImagePart:
    """Ollama images are raw base64; tolerate a data: URI prefix, refuse what is not base64 at all."""
    if data.startswith("data:"):
        header, _, data = data.partition(",")
        mime = header[5:].split(";", 1)[0] or None
    else:
        mime = None
    if "\n" in data[:200]:  # line-wrapped base64 (76 columns): unwrap, upstreams want one line
        data = "".join(data.split())
    head = data[: len(data) // 4 * 4][:64]
    try:
        if not head:
            raise ValueError
        base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{param}: invalid image data (expected base64)", param) from None
    return ImagePart(data=data, media_type=mime or sniff_image_type(data))


def _arguments(args: dict[str, Any] | str | None) -> str:
    if args is None:
        return "{}"
    if isinstance(args, str):
        return args or "{}"
    return _encode(args).decode()


def _params(
    options: wire.Options | None, format_: wire.Format, think: wire.Think, keep_alive: wire.KeepAlive
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    droppable: tuple[str, ...] = ()
    if keep_alive is not None:
        extra["ollama:keep_alive"] = keep_alive
        droppable = ("keep_alive",)
    if options is not None:
        o = options
        if o.num_predict is not None and o.num_predict > 0:  # -1 unlimited / -2 fill context: no cap
            out["max_tokens"] = o.num_predict
        if o.stop is not None:
            out["stop"] = [o.stop] if isinstance(o.stop, str) else (list(o.stop) or None)
        for key in ("temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(o, key)
            if value is not None:
                out[key] = value
        # Options only an Ollama upstream understands travel namespaced (`ollama:options`), so no other
        # provider forwards them (the real OpenAI API rejects unknown body fields).
        ollama_only = {k: getattr(o, k) for k in fields.OLLAMA_OPTIONS if getattr(o, k) is not None}
        if ollama_only:
            extra["ollama:options"] = ollama_only
            droppable += tuple("options." + k for k in ollama_only)
    if isinstance(format_, dict):
        out["response_format"] = ResponseFormat(type="json_schema", schema=format_, name="response")
    elif format_ == "json":
        out["response_format"] = ResponseFormat(type="json_object")
    elif format_:
        raise invalid(f'format: expected "json" or a JSON schema object, got {format_!r}', "format")
    if think is not None:
        if isinstance(think, bool):
            out["reasoning"] = Reasoning(enabled=think)
        elif think in _THINK_LEVELS or think == "max":
            out["reasoning"] = Reasoning(enabled=True, effort="high" if think == "max" else think)
        else:
            raise invalid(f'think: expected true, false, "low", "medium" or "high", got {think!r}', "think")
    if extra:
        out["extra"] = extra
        out["droppable"] = droppable
    return out


def chat_to_unified(body: wire.ChatRequest, stream: bool) -> Request:
    messages: list[Message] = []
    # Calls of the latest assistant turn, to pair tool results with: ollama clients usually drop the ids
    # (ollama-python's ToolCall has no `id`), so results match by id, else by tool_name, else by order.
    pending: list[list[Any]] = []  # [id, name, answered]
    for i, m in enumerate(body.messages or []):
        role = m.role.lower()
        text = m.content or ""
        if role == "system":
            messages.append(Message(role="system", content=[TextPart(text=text)] if text else []))
        elif role == "user":
            parts: list[Part] = [TextPart(text=text)] if text else []
            for j, img in enumerate(m.images or []):
                parts.append(_image(img, f"messages[{i}].images[{j}]"))
            messages.append(Message(role="user", content=parts))
        elif role == "assistant":
            parts = []
            if m.thinking:
                parts.append(ThinkingPart(text=m.thinking))
            if text:
                parts.append(TextPart(text=text))
            pending = []
            for tc in m.tool_calls or []:
                call_id = tc.id or mint("call_", 8)
                pending.append([call_id, tc.function.name, False])
                parts.append(
                    ToolCallPart(id=call_id, name=tc.function.name, arguments=_arguments(tc.function.arguments))
                )
            messages.append(Message(role="assistant", content=parts))
        elif role == "tool":
            call_id = _pair(pending, m.tool_call_id, m.tool_name)
            content: list[Any] = [TextPart(text=text)] if text else []
            for j, img in enumerate(m.images or []):
                content.append(_image(img, f"messages[{i}].images[{j}]"))
            result = ToolResultPart(tool_call_id=call_id, content=content, name=m.tool_name)
            prev = messages[-1] if messages else None
            if (
                prev is not None
                and prev.role == "user"
                and prev.content
                and all(isinstance(p, ToolResultPart) for p in prev.content)
            ):
                prev.content.append(result)
            else:
                messages.append(Message(role="user", content=[result]))
        else:
            raise invalid(
                f"messages[{i}].role: unknown role {m.role!r} (expected system, user, assistant or tool)",
                f"messages[{i}].role",
            )
    tools = None
    if body.tools:  # ollama-python sends "tools": [] when there are none
        tools = [
            Tool(name=t.function.name, description=t.function.description, parameters=t.function.parameters)
            for t in body.tools
        ]
    return Request(
        model=body.model,
        messages=messages,
        stream=stream,
        tools=tools,
        **_params(body.options, body.format, body.think, body.keep_alive),
    )


def _pair(pending: list[list[Any]], call_id: str | None, name: str | None) -> str:
    if call_id:
        for p in pending:
            if p[0] == call_id:
                p[2] = True
        return call_id
    for match in (lambda p: not p[2] and name and p[1] == name, lambda p: not p[2]):
        for p in pending:
            if match(p):
                p[2] = True
                return p[0]
    return mint("call_", 8)  # a result with no call: the upstream decides whether that is acceptable


def generate_to_unified(body: wire.GenerateRequest, stream: bool) -> Request:
    if body.suffix:  # fill-in-the-middle has no counterpart in chat APIs; Ollama refuses it likewise
        raise invalid(f'"{body.model}" does not support insert', "suffix")
    messages: list[Message] = []
    if body.system:
        messages.append(Message(role="system", content=[TextPart(text=body.system)]))
    parts: list[Part] = [TextPart(text=body.prompt)] if body.prompt else []
    for j, img in enumerate(body.images or []):
        parts.append(_image(img, f"images[{j}]"))
    messages.append(Message(role="user", content=parts))
    return Request(
        model=body.model,
        messages=messages,
        stream=stream,
        **_params(body.options, body.format, body.think, body.keep_alive),
    )


# ---------------------------------------------------------------------------------------------- response


def tool_calls_json(calls: list[ToolCallPart]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "type": "function",
            "function": {"index": i, "name": c.name, "arguments": arguments_object(c.arguments)},
        }
        for i, c in enumerate(calls)
    ]


def metrics(usage: Usage, started: float, first: float | None, now: float) -> dict[str, Any]:
    """Ollama's counters and nanosecond durations. prompt_eval = time to the first token, eval = first to
    last token; never 0 with a non-zero count (clients divide by it for tokens/s)."""
    total = max(1, int((now - started) * 1e9))
    first = now if first is None else first
    prompt = max(1, int((first - started) * 1e9))
    eval_ = max(1, int((now - first) * 1e9))
    return {
        "total_duration": total,
        "load_duration": 0,
        "prompt_eval_count": usage.input_tokens,
        "prompt_eval_duration": prompt,
        "eval_count": usage.output_tokens,
        "eval_duration": eval_,
    }


def done_reason(stop: str) -> str:
    return "length" if stop == "length" else "stop"


def render_response(
    resp: Response, client_model: str, generate: bool, show_thinking: bool, started: float, upstream_seconds: float
) -> bytes:
    text = "".join(p.text for p in resp.content if isinstance(p, TextPart))
    thinking = "".join(p.text for p in resp.content if isinstance(p, ThinkingPart))
    inline, text = split_think(text)
    thinking += inline
    calls = [p for p in resp.content if isinstance(p, ToolCallPart)]
    now = time.perf_counter()
    # Without a stream there is no first-token instant: split the upstream time by token counts.
    u = resp.usage
    share = u.input_tokens / (u.input_tokens + u.output_tokens) if (u.input_tokens + u.output_tokens) else 0.5
    first = max(started, now - upstream_seconds * (1 - share))
    out: dict[str, Any] = {"model": client_model, "created_at": now_rfc3339()}
    if generate:
        out["response"] = text
        if thinking and show_thinking:
            out["thinking"] = thinking
        if calls:
            out["tool_calls"] = tool_calls_json(calls)
    else:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thinking and show_thinking:
            message["thinking"] = thinking
        if calls:
            message["tool_calls"] = tool_calls_json(calls)
        out["message"] = message
    out["done"] = True
    out["done_reason"] = done_reason(resp.stop_reason)
    out.update(metrics(resp.usage, started, first, now))
    return _encode(out)


def load_response(client_model: str, generate: bool, unload: bool) -> bytes:
    """An empty chat/generate request only loads (or unloads) the model in Ollama: nothing to generate."""
    out: dict[str, Any] = {"model": client_model, "created_at": now_rfc3339()}
    if generate:
        out["response"] = ""
    else:
        out["message"] = {"role": "assistant", "content": ""}
    out["done"] = True
    out["done_reason"] = "unload" if unload else "load"
    return _encode(out)
