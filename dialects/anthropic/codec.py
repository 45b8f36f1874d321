"""Anthropic wire <-> unified: requests in, messages and SSE events out."""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from dialects.anthropic import schema as wire
from unified.errors import invalid
from unified.estimate import estimate_tokens
from unified.ids import mint, safe_tool_id
from unified.media import SUPPORTED_IMAGE_TYPES
from unified.types import (
    DocumentPart,
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
    ToolChoice,
    ToolResultPart,
    Usage,
    arguments_object,
)

STOP_REASON = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

_encode = msgspec.json.encode
_decode = msgspec.json.decode


# ---------------------------------------------------------------------------------------------- request


def _image(block: wire.ImageBlock, where: str) -> ImagePart:
    src = block.source
    if isinstance(src, wire.Base64Source):
        if src.media_type not in SUPPORTED_IMAGE_TYPES:
            raise invalid(
                f"{where}.source.media_type: must be one of {', '.join(SUPPORTED_IMAGE_TYPES)}",
                f"{where}.source.media_type",
            )
        return ImagePart(data=src.data, media_type=src.media_type, cache_control=block.cache_control)
    if isinstance(src, wire.URLSource):
        return ImagePart(url=src.url, cache_control=block.cache_control)
    raise invalid(f"{where}.source: file sources (Files API) are not supported by this gateway", f"{where}.source")


def _document(block: wire.DocumentBlock, where: str) -> Part:
    src = block.source
    if isinstance(src, wire.Base64Source):
        return DocumentPart(
            data=src.data, media_type=src.media_type, title=block.title, cache_control=block.cache_control
        )
    if isinstance(src, wire.TextSource):
        return DocumentPart(
            data=base64.b64encode(src.data.encode()).decode(),
            media_type="text/plain",
            title=block.title,
            cache_control=block.cache_control,
        )
    if isinstance(src, wire.ContentSource):
        c = src.content
        text = c if isinstance(c, str) else "\n".join(str(b.get("text", "")) for b in c if isinstance(b, dict))
        return TextPart(text=text, cache_control=block.cache_control)
    raise invalid(f"{where}.source: only base64 and text documents are supported by this gateway", f"{where}.source")


def _result_content(content: str | list[Any] | None, where: str) -> list[TextPart | ImagePart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    out: list[TextPart | ImagePart] = []
    for j, b in enumerate(content):
        at = f"{where}[{j}]"
        if isinstance(b, wire.TextBlock):
            if b.text:
                out.append(TextPart(text=b.text, cache_control=b.cache_control))
        elif isinstance(b, wire.ImageBlock):
            out.append(_image(b, at))
        else:
            doc = _document(b, at)
            if isinstance(doc, DocumentPart) and doc.media_type == "text/plain":
                doc = TextPart(text=base64.b64decode(doc.data).decode("utf-8", "replace"))
            if not isinstance(doc, TextPart):
                raise invalid(f"{at}: only text documents can appear inside a tool_result", at)
            out.append(doc)
    return out


def _parts(content: str | list[wire.ContentBlock], where: str) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    out: list[Part] = []
    for i, b in enumerate(content):
        at = f"{where}[{i}]"
        if isinstance(b, wire.TextBlock):
            if b.text:  # the real API 400s on empty text blocks; dropping them is harmless
                out.append(TextPart(text=b.text, cache_control=b.cache_control))
        elif isinstance(b, wire.ToolResultBlock):
            out.append(
                ToolResultPart(
                    tool_call_id=b.tool_use_id,
                    content=_result_content(b.content, at + ".content"),
                    is_error=bool(b.is_error),
                    cache_control=b.cache_control,
                )
            )
        elif isinstance(b, wire.ToolUseBlock):
            args = b.input if b.input is not None else {}
            out.append(
                ToolCallPart(id=b.id, name=b.name, arguments=_encode(args).decode(), cache_control=b.cache_control)
            )
        elif isinstance(b, wire.ImageBlock):
            out.append(_image(b, at))
        elif isinstance(b, wire.DocumentBlock):
            out.append(_document(b, at))
        elif isinstance(b, wire.ThinkingBlock):
            out.append(ThinkingPart(text=b.thinking, signature=b.signature or None))
        elif isinstance(b, wire.RedactedThinkingBlock):
            out.append(ThinkingPart(text="", redacted=b.data))
        # server_tool_use / web_search_tool_result: run inside Anthropic only; no other target has them
    return out


def _system(system: str | list[wire.TextBlock] | None) -> Message | None:
    if not system:
        return None
    if isinstance(system, str):
        return Message(role="system", content=[TextPart(text=system)])
    parts: list[Part] = [TextPart(text=b.text, cache_control=b.cache_control) for b in system if b.text]
    return Message(role="system", content=parts) if parts else None


def _tools(tools: list[wire.ToolDef] | None) -> list[Tool] | None:
    if not tools:
        return None
    out = []
    for i, t in enumerate(tools):
        if t.input_schema is None:
            if t.type and t.type != "custom":
                continue  # a server tool (web_search_..., bash_...): only Anthropic runs those
            raise invalid(f"tools[{i}].input_schema: Field required", f"tools[{i}].input_schema")
        out.append(
            Tool(name=t.name, description=t.description, parameters=t.input_schema, cache_control=t.cache_control)
        )
    return out or None


def _tool_choice(tc: wire.ToolChoiceParam | None) -> ToolChoice | None:
    if tc is None:
        return None
    parallel = False if tc.disable_parallel_tool_use else None
    if tc.type == "tool":
        if not tc.name:
            raise invalid("tool_choice.name: Field required", "tool_choice.name")
        return ToolChoice(mode="tool", name=tc.name, parallel=parallel)
    mode = {"auto": "auto", "any": "required", "none": "none"}[tc.type]
    return ToolChoice(mode=mode, parallel=parallel)  # type: ignore[arg-type]


def _reasoning(thinking: wire.ThinkingParam | None, output: wire.OutputConfig | None) -> Reasoning | None:
    if thinking is None:
        return None
    if thinking.type == "disabled":
        return Reasoning(enabled=False)
    if thinking.type == "enabled":
        if thinking.budget_tokens is None:
            raise invalid("thinking.budget_tokens: Field required", "thinking.budget_tokens")
        if thinking.budget_tokens < 1024:
            raise invalid(
                "thinking.budget_tokens: Input should be greater than or equal to 1024", "thinking.budget_tokens"
            )
        return Reasoning(enabled=True, budget_tokens=thinking.budget_tokens)
    return Reasoning(enabled=True, effort=output.effort if output else None)


def messages_of(system: Any, messages: list[wire.MessageParam]) -> list[Message]:
    out: list[Message] = []
    first = _system(system)
    if first is not None:
        out.append(first)
    for i, m in enumerate(messages):
        parts = _parts(m.content, f"messages[{i}].content")
        if m.role == "system":
            parts = [p for p in parts if isinstance(p, TextPart)]
        out.append(Message(role=m.role, content=parts))
    return out


def to_unified(body: wire.MessagesRequest) -> Request:
    if not body.messages:
        raise invalid("messages: at least one message is required", "messages")
    if body.max_tokens < 1:
        raise invalid("max_tokens: Input should be greater than or equal to 1", "max_tokens")
    tools = _tools(body.tools)
    response_format = None
    oc = body.output_config
    if oc is not None and oc.format is not None and oc.format.type == "json_schema":
        response_format = ResponseFormat(type="json_schema", schema=oc.format.schema)
    return Request(
        model=body.model,
        messages=messages_of(body.system, body.messages),
        stream=bool(body.stream),
        tools=tools,
        tool_choice=_tool_choice(body.tool_choice) if tools else None,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        stop=body.stop_sequences or None,
        response_format=response_format,
        reasoning=_reasoning(body.thinking, oc),
        user=body.metadata.user_id if body.metadata else None,
    )


def count_request(body: wire.CountTokensRequest) -> Request:
    tools = _tools(body.tools)
    return Request(
        model=body.model,
        messages=messages_of(body.system, body.messages),
        tools=tools,
        tool_choice=_tool_choice(body.tool_choice) if tools else None,
        reasoning=_reasoning(body.thinking, body.output_config),
    )


def estimate_input_tokens(req: Request) -> int:
    """For upstreams that cannot count; 1,600 tokens per image or document (Anthropic's ceiling for one image)."""
    return estimate_tokens(req, 1600)


# ---------------------------------------------------------------------------------------------- response


def usage_of(u: Usage) -> dict[str, int]:
    """Unified usage (input includes cache) -> Anthropic's (input_tokens excludes cache)."""
    return {
        "input_tokens": max(0, u.input_tokens - u.cache_read_tokens - u.cache_creation_tokens),
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_creation_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
    }


def message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else mint("msg_", 24)


def from_unified(resp: Response, client_model: str) -> bytes:
    content: list[dict[str, Any]] = []
    saw_call = False
    for p in resp.content:
        if isinstance(p, TextPart):
            if p.text:
                content.append({"type": "text", "text": p.text})
        elif isinstance(p, ToolCallPart):
            saw_call = True
            content.append(
                {"type": "tool_use", "id": safe_tool_id(p.id), "name": p.name, "input": arguments_object(p.arguments)}
            )
        elif isinstance(p, ThinkingPart):
            if p.redacted:
                content.append({"type": "redacted_thinking", "data": p.redacted})
            elif p.text or p.signature:
                content.append({"type": "thinking", "thinking": p.text, "signature": p.signature or ""})
    stop = "tool_use" if saw_call else STOP_REASON.get(resp.stop_reason, "end_turn")
    return _encode(
        {
            "id": message_id(resp.id),
            "type": "message",
            "role": "assistant",
            "model": client_model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": resp.stop_sequence if stop == "stop_sequence" else None,
            "usage": usage_of(resp.usage),
        }
    )
