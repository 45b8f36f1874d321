"""OpenAI wire <-> unified: requests in, responses and stream chunks out."""

from __future__ import annotations

import base64
import operator
import struct
import time
from typing import Any

import msgspec

from dialects.openai import schema as wire
from dialects.openai import tools
from unified import fields
from unified.errors import invalid
from unified.ids import mint
from unified.media import image_from_url
from unified.types import (
    DocumentPart,
    EmbedResponse,
    ImagePart,
    Message,
    Part,
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    Usage,
)

FINISH_REASON = {
    "stop": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}

_encode = msgspec.json.encode


# ---------------------------------------------------------------------------------------------- request


def _text_parts(content: str | list[wire.ContentPart] | None, param: str) -> list[TextPart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    out = []
    for part in content:
        if isinstance(part, wire.TextContent):
            if part.text:
                out.append(TextPart(text=part.text))
        elif isinstance(part, wire.RefusalContent):
            out.append(TextPart(text=part.refusal))
        else:
            raise invalid(f"{param}: only text content is allowed in this message", param)
    return out


def _user_parts(content: str | list[wire.ContentPart] | None, param: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)]
    out: list[Part] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if isinstance(part, wire.TextContent):
            out.append(TextPart(text=part.text))
        elif isinstance(part, wire.ImageContent):
            url = part.image_url if isinstance(part.image_url, str) else part.image_url.url
            out.append(image_from_url(url, f"{where}.image_url"))
        elif isinstance(part, wire.FileContent):
            data = part.file.file_data
            if not data:
                raise invalid(f"{where}.file: only inline file_data is supported", where)
            if data.startswith("data:"):
                header, _, data = data.partition(",")
                mime = header[5:].split(";", 1)[0] or "application/pdf"
            else:
                mime = "application/pdf"
            out.append(DocumentPart(data=data, media_type=mime, title=part.file.filename))
        elif isinstance(part, wire.AudioContent):
            raise invalid(f"{where}: input_audio is not supported by this gateway", where)
        else:
            out.append(TextPart(text=part.refusal))
    return out


def _arguments(args: str | dict[str, Any]) -> str:
    return args if isinstance(args, str) else _encode(args).decode()


def _meaningful(name: str, value: Any) -> bool:
    """Whether a value asks for something (the defaults `false`, `{}`, text-only output ask for nothing)."""
    if value is None or value is False or value == {} or value == []:
        return False
    return not (name == "modalities" and value == ["text"])


_openai_fields = operator.attrgetter(*fields.OPENAI_CHAT)


def _openai_only(body: wire.ChatRequest, extra: dict[str, Any]) -> tuple[str, ...]:
    """OpenAI's own fields, put in `extra` for an OpenAI-type upstream, and their unified.fields names."""
    values = _openai_fields(body)
    found: tuple[str, ...] = ()
    if values.count(None) == len(values):  # the usual request: none of them (one C call)
        return found
    for name, value in zip(fields.OPENAI_CHAT, values, strict=True):
        if _meaningful(name, value):
            extra[name] = value
            found += (name,)
    return found


def answers_function_call(body: wire.ChatRequest) -> bool:
    """A client that offered only the deprecated `functions` gets its call as `message.function_call`."""
    return bool(body.functions) and not body.tools


def _legacy_choice(choice: str | wire.NamedFunction) -> str | wire.ToolChoiceFunction:
    if isinstance(choice, str):
        if choice not in ("auto", "none"):
            raise invalid("function_call: expected 'auto', 'none' or {\"name\": ...}", "function_call")
        return choice
    return wire.ToolChoiceFunction(type="function", function=choice)


def to_unified(body: wire.ChatRequest) -> Request:
    if not body.messages:
        raise invalid("messages: must contain at least one message", "messages")
    messages: list[Message] = []
    legacy_ids: dict[str, str] = {}  # deprecated function calls carry no id: a result pairs with its name
    for i, m in enumerate(body.messages):
        param = f"messages[{i}].content"
        role = m.role
        if role in ("system", "developer"):
            messages.append(Message(role="system", content=list(_text_parts(m.content, param))))
        elif role == "user":
            messages.append(Message(role="user", content=_user_parts(m.content, param)))
        elif role == "assistant":
            parts: list[Part] = []
            thinking = m.reasoning_content or m.reasoning
            if thinking:
                parts.append(ThinkingPart(text=thinking))
            parts.extend(_text_parts(m.content, param))
            for j, tc in enumerate(m.tool_calls or ()):
                parts.append(tools.call_part(tc, f"messages[{i}].tool_calls[{j}]", _arguments))
            fc = m.function_call
            if fc is not None:
                legacy_ids[fc.name] = f"call_fn{i}"
                parts.append(ToolCallPart(id=f"call_fn{i}", name=fc.name, arguments=_arguments(fc.arguments)))
            messages.append(Message(role="assistant", content=parts))
        else:  # tool / function results travel in a user turn; consecutive ones share it
            call_id = m.tool_call_id if role == "tool" else legacy_ids.pop(m.name or "", m.name or "")
            if not call_id:
                raise invalid(f"messages[{i}].tool_call_id: required on role 'tool'", f"messages[{i}].tool_call_id")
            content: list[TextPart | ImagePart] = [*_text_parts(m.content, param)]
            result = ToolResultPart(tool_call_id=call_id, content=content, name=m.name)
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

    unified_tools, _, custom_dropped = tools.tools_in(body)
    tool_choice = None
    choice = body.tool_choice
    if choice is None and body.function_call is not None:
        choice = _legacy_choice(body.function_call)
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise invalid("tool_choice: expected 'auto', 'none', 'required' or a function object", "tool_choice")
        tool_choice = ToolChoice(mode=choice)  # type: ignore[arg-type]
    elif choice is not None:
        if choice.type == "function" and choice.function is not None:
            tool_choice = ToolChoice(mode="tool", name=choice.function.name)
        elif choice.type == "custom" and choice.custom is not None:
            tool_choice = ToolChoice(mode="tool", name=choice.custom.name)
        elif choice.type == "allowed_tools" and choice.allowed_tools:
            mode = choice.allowed_tools.get("mode", "auto")
            tool_choice = ToolChoice(mode="required" if mode == "required" else "auto")
        else:
            raise invalid("tool_choice: unsupported tool_choice object", "tool_choice")
    if body.parallel_tool_calls is False or answers_function_call(body):  # the old API: one call per answer
        tool_choice = msgspec.structs.replace(tool_choice or ToolChoice(), parallel=False)

    response_format = None
    rf = body.response_format
    if rf is not None and rf.type != "text":
        js = rf.json_schema
        response_format = ResponseFormat(
            type=rf.type,
            schema=js.schema if js else None,
            name=js.name if js else None,
            strict=js.strict if js else None,
        )

    reasoning = None
    if body.reasoning_effort is not None:
        reasoning = Reasoning(enabled=body.reasoning_effort != "none", effort=body.reasoning_effort)
    elif body.enable_thinking is not None:
        reasoning = Reasoning(enabled=body.enable_thinking, budget_tokens=body.thinking_budget)

    extra = {
        k: v
        for k, v in (
            ("enable_thinking", body.enable_thinking),
            ("thinking_budget", body.thinking_budget),
            ("repetition_penalty", body.repetition_penalty),
            ("min_p", body.min_p),
            ("enable_search", body.enable_search),
            ("do_sample", body.do_sample),
        )
        if v is not None
    }
    droppable = _openai_only(body, extra) + custom_dropped
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if body.n is not None and body.n < 1:
        raise invalid("n: must be at least 1", "n")
    if body.n is not None and body.n > 1:  # one choice comes back whatever the upstream
        droppable += (fields.N,)
    max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    if max_tokens is not None and max_tokens < 1:
        raise invalid("max_tokens: must be at least 1", "max_tokens")
    return Request(
        model=body.model,
        messages=messages,
        stream=bool(body.stream),
        tools=unified_tools,
        tool_choice=tool_choice,
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        stop=stop or None,
        response_format=response_format,
        reasoning=reasoning,
        user=body.user or body.safety_identifier,
        extra=extra or None,
        droppable=droppable,
    )


# ---------------------------------------------------------------------------------------------- response


def usage_of(u: Usage) -> wire.ResponseUsage:
    return wire.ResponseUsage(
        prompt_tokens=u.input_tokens,
        completion_tokens=u.output_tokens,
        total_tokens=u.input_tokens + u.output_tokens,
        prompt_tokens_details=wire.PromptDetails(cached_tokens=u.cache_read_tokens),
        completion_tokens_details=wire.CompletionDetails(reasoning_tokens=u.reasoning_tokens),
    )


def from_unified(
    resp: Response, client_model: str, function_call: bool = False, customs: frozenset[str] = frozenset()
) -> bytes:
    """`function_call`: the client used the deprecated `functions`, so its (first) call comes back as
    `message.function_call` with finish_reason `function_call`, as the API answers it. `customs`: the
    client's custom tools, whose calls come back as custom calls."""
    text = "".join(p.text for p in resp.content if isinstance(p, TextPart))
    thinking = "".join(p.text for p in resp.content if isinstance(p, ThinkingPart))
    calls = [tools.answer_call(p, customs) for p in resp.content if isinstance(p, ToolCallPart)]
    message: wire.ResponseMessage
    first = calls[0] if calls else None
    if function_call and isinstance(first, wire.ResponseToolCall):
        message = wire.FunctionCallMessage(
            content=text or None, reasoning_content=thinking or None, function_call=first.function
        )
        finish = "function_call"
    else:
        message = wire.ResponseMessage(
            content=text if (text or not calls) else None,
            tool_calls=calls or None,
            reasoning_content=thinking or None,
        )
        finish = "tool_calls" if calls else FINISH_REASON.get(resp.stop_reason, "stop")
    completion = wire.ChatCompletion(
        id=_completion_id(resp.id),
        created=int(time.time()),
        model=client_model,
        choices=[wire.Choice(message=message, finish_reason=finish)],
        usage=usage_of(resp.usage),
    )
    return _encode(completion)


def _completion_id(upstream_id: str) -> str:
    if upstream_id.startswith("chatcmpl-"):
        return upstream_id
    return "chatcmpl-" + (upstream_id or mint("", 24))


def embeddings_body(resp: EmbedResponse, client_model: str, encoding: str) -> bytes:
    data = []
    for i, vec in enumerate(resp.vectors):
        embedding: Any = vec
        if encoding == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    return _encode(
        {
            "object": "list",
            "data": data,
            "model": client_model,
            "usage": {"prompt_tokens": resp.input_tokens, "total_tokens": resp.input_tokens},
        }
    )
