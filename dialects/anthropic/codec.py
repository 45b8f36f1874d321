"""Anthropic wire <-> unified: requests in, messages and SSE events out."""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from dialects.anthropic import schema as wire
from unified import fields
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


def _cc(cc: dict[str, Any] | None, seen: set[str]) -> dict[str, Any] | None:
    """A block's cache_control for the unified request: `scope` (a beta the translated lane cannot ask an
    Anthropic upstream for, since it sends no client betas) is taken out and noted."""
    if cc is not None and "scope" in cc:
        seen.add(fields.CACHE_SCOPE)
        return {k: v for k, v in cc.items() if k != "scope"}
    return cc


def _image(block: wire.ImageBlock, where: str, seen: set[str]) -> ImagePart:
    src = block.source
    if isinstance(src, wire.Base64Source):
        if src.media_type not in SUPPORTED_IMAGE_TYPES:
            raise invalid(
                f"{where}.source.media_type: must be one of {', '.join(SUPPORTED_IMAGE_TYPES)}",
                f"{where}.source.media_type",
            )
        return ImagePart(data=src.data, media_type=src.media_type, cache_control=_cc(block.cache_control, seen))
    if isinstance(src, wire.URLSource):
        return ImagePart(url=src.url, cache_control=_cc(block.cache_control, seen))
    raise invalid(f"{where}.source: file sources (Files API) are not supported by this gateway", f"{where}.source")


def _document(block: wire.DocumentBlock, where: str, seen: set[str]) -> Part:
    src = block.source
    cc = _cc(block.cache_control, seen)
    if isinstance(src, wire.Base64Source):
        return DocumentPart(data=src.data, media_type=src.media_type, title=block.title, cache_control=cc)
    if isinstance(src, wire.TextSource):
        return DocumentPart(
            data=base64.b64encode(src.data.encode()).decode(),
            media_type="text/plain",
            title=block.title,
            cache_control=cc,
        )
    if isinstance(src, wire.ContentSource):
        c = src.content
        text = c if isinstance(c, str) else "\n".join(str(b.get("text", "")) for b in c if isinstance(b, dict))
        return TextPart(text=text, cache_control=cc)
    raise invalid(f"{where}.source: only base64 and text documents are supported by this gateway", f"{where}.source")


def _search_result(b: wire.SearchResultBlock, seen: set[str]) -> TextPart:
    text = "\n".join([b.title, b.source, *(t.text for t in b.content)]).strip()
    return TextPart(text=text or "(empty search result)", cache_control=_cc(b.cache_control, seen))


def _result_content(content: str | list[Any] | None, where: str, seen: set[str]) -> list[TextPart | ImagePart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    out: list[TextPart | ImagePart] = []
    for j, b in enumerate(content):
        at = f"{where}[{j}]"
        if isinstance(b, wire.TextBlock):
            if b.text:
                out.append(TextPart(text=b.text, cache_control=_cc(b.cache_control, seen)))
        elif isinstance(b, wire.ImageBlock):
            out.append(_image(b, at, seen))
        elif isinstance(b, wire.SearchResultBlock):
            out.append(_search_result(b, seen))
        elif isinstance(b, wire.ToolReferenceBlock):
            seen.add(fields.TOOL_REFERENCE)
        else:
            doc = _document(b, at, seen)
            if isinstance(doc, DocumentPart) and doc.media_type == "text/plain":
                doc = TextPart(text=base64.b64decode(doc.data).decode("utf-8", "replace"))
            if not isinstance(doc, TextPart):
                raise invalid(f"{at}: only text documents can appear inside a tool_result", at)
            out.append(doc)
    return out


def _parts(content: str | list[wire.ContentBlock] | None, where: str, seen: set[str]) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    out: list[Part] = []
    for i, b in enumerate(content):
        at = f"{where}[{i}]"
        if isinstance(b, wire.TextBlock):
            if b.text:  # the real API 400s on empty text blocks; dropping them is harmless
                out.append(TextPart(text=b.text, cache_control=_cc(b.cache_control, seen)))
        elif isinstance(b, wire.ToolResultBlock):
            out.append(
                ToolResultPart(
                    tool_call_id=b.tool_use_id,
                    content=_result_content(b.content, at + ".content", seen),
                    is_error=bool(b.is_error),
                    cache_control=_cc(b.cache_control, seen),
                )
            )
        elif isinstance(b, wire.ToolUseBlock):
            args = b.input if b.input is not None else {}
            out.append(
                ToolCallPart(
                    id=b.id, name=b.name, arguments=_encode(args).decode(), cache_control=_cc(b.cache_control, seen)
                )
            )
        elif isinstance(b, wire.ImageBlock):
            out.append(_image(b, at, seen))
        elif isinstance(b, wire.DocumentBlock):
            out.append(_document(b, at, seen))
        elif isinstance(b, wire.ThinkingBlock):
            out.append(ThinkingPart(text=b.thinking, signature=b.signature or None))
        elif isinstance(b, wire.RedactedThinkingBlock):
            out.append(ThinkingPart(text="", redacted=b.data))
        elif isinstance(b, wire.SearchResultBlock):
            out.append(_search_result(b, seen))
        elif isinstance(b, wire.CompactionBlock):
            if b.content:  # the summary stands for the turns it replaced; None is a failed compaction
                out.append(TextPart(text=b.content, cache_control=_cc(b.cache_control, seen)))
        elif isinstance(b, wire.ToolAdditionBlock):
            seen.add(fields.TOOL_ADDITION)
        elif isinstance(b, wire.ToolRemovalBlock):
            seen.add(fields.TOOL_REMOVAL)
        # server_tool_use and the server tools' results, uploads, MCP calls: they ran inside Anthropic, and
        # the server tools themselves are counted as dropped (tools.web_search ...)
    return out


def _system(system: str | list[wire.TextBlock] | None, seen: set[str]) -> Message | None:
    if not system:
        return None
    if isinstance(system, str):
        return Message(role="system", content=[TextPart(text=system)])
    parts: list[Part] = [TextPart(text=b.text, cache_control=_cc(b.cache_control, seen)) for b in system if b.text]
    return Message(role="system", content=parts) if parts else None


def _server_tool(kind: str) -> str:
    """The unified.fields name of a server tool type (`web_search_20250305` -> tools.web_search)."""
    family = kind.rstrip("0123456789").rstrip("_")
    for prefix, field in fields.SERVER_TOOLS.items():
        if family.startswith(prefix):
            return field
    return fields.SERVER_TOOL


def _tools(tools: list[wire.ToolDef] | None, seen: set[str]) -> list[Tool] | None:
    if not tools:
        return None
    out = []
    for i, t in enumerate(tools):
        if t.input_schema is None:
            if t.type and t.type != "custom":
                seen.add(_server_tool(t.type))  # web_search_..., bash_...: only Anthropic runs those
                continue
            raise invalid(f"tools[{i}].input_schema: Field required", f"tools[{i}].input_schema")
        if t.strict:
            seen.add(fields.TOOLS_STRICT)
        if t.defer_loading:
            seen.add(fields.TOOLS_DEFER_LOADING)  # still offered: no other API loads tools on demand
        if t.input_examples:
            seen.add(fields.TOOLS_INPUT_EXAMPLES)
        if t.eager_input_streaming is not None:
            seen.add(fields.TOOLS_EAGER_STREAMING)
        if t.allowed_callers is not None:
            seen.add(fields.TOOLS_ALLOWED_CALLERS)
        out.append(
            Tool(
                name=t.name,
                description=t.description,
                parameters=t.input_schema,
                strict=True if t.strict else None,
                cache_control=_cc(t.cache_control, seen),
            )
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
    """Thinking and effort in unified terms: adaptive thinking is thinking at the model's discretion (or at
    `output_config.effort`); an effort alone is the reasoning effort OpenAI-type upstreams take."""
    effort = output.effort if output is not None else None
    if thinking is None:
        return Reasoning(enabled=True, effort=effort) if effort else None
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
    return Reasoning(enabled=True, effort=effort)


def _last_user(messages: list[wire.MessageParam]) -> int:
    return max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)


def messages_of(system: Any, messages: list[wire.MessageParam], seen: set[str]) -> list[Message]:
    """Unified messages. A mid-conversation system message stays in place (an OpenAI-type upstream takes it
    there; the others fold it into their system prompt), minus one whose `clear_at: next_user_message`
    has passed (a later user turn exists: the real API no longer shows it to the model either)."""
    out: list[Message] = []
    first = _system(system, seen)
    if first is not None:
        out.append(first)
    last_user = -2
    for i, m in enumerate(messages):
        if m.content is None and m.role != "system":
            raise invalid(f"messages[{i}].content: Field required", f"messages[{i}].content")
        parts = _parts(m.content, f"messages[{i}].content", seen)
        if m.role == "system":
            oc = m.output_config
            if oc is not None and not (isinstance(oc, dict) and oc.keys() <= {"effort"}):
                seen.add(fields.MESSAGE_OUTPUT_CONFIG)  # an effort is mapped (_turn_effort); anything else is not
            if m.clear_at == "next_user_message":
                if last_user == -2:
                    last_user = _last_user(messages)
                if last_user > i:
                    continue
            parts = [p for p in parts if isinstance(p, TextPart)]
            if not parts:
                continue
        out.append(Message(role=m.role, content=parts))
    return out


def _turn_effort(messages: list[wire.MessageParam]) -> str | None:
    """The per-turn effort a system message after the last user turn sets for this answer (beta)."""
    for m in reversed(messages):
        if m.role == "user":
            return None
        oc = m.output_config
        if m.role == "system" and isinstance(oc, dict) and isinstance(oc.get("effort"), str):
            return str(oc["effort"])
    return None


def _with_turn_effort(reasoning: Reasoning | None, messages: list[wire.MessageParam]) -> Reasoning | None:
    if messages[-1].role == "user":  # the common case: no per-turn setting follows the last user turn
        return reasoning
    effort = _turn_effort(messages)
    if effort is None or (reasoning is not None and not reasoning.enabled):
        return reasoning
    if reasoning is None:
        return Reasoning(enabled=True, effort=effort)
    return msgspec.structs.replace(reasoning, effort=effort)


def _top_level(body: wire.MessagesRequest, seen: set[str]) -> None:
    """Top-level fields only Anthropic has."""
    if body.context_management is not None:
        seen.add(fields.CONTEXT_MANAGEMENT)
    for name in fields.ANTHROPIC_TOP:
        if getattr(body, name) is not None:
            seen.add(name)
    if body.thinking is not None and body.thinking.display is not None:
        seen.add(fields.THINKING_DISPLAY)
    if body.output_config is not None and body.output_config.task_budget is not None:
        seen.add(fields.TASK_BUDGET)


def _auto_cache(messages: list[Message], cc: dict[str, Any]) -> None:
    """Top-level `cache_control` (automatic caching) as the breakpoint it stands for: on the last block."""
    for m in reversed(messages):
        if m.role != "system" and m.content:
            last = m.content[-1]
            if not isinstance(last, ThinkingPart) and last.cache_control is None:
                m.content[-1] = msgspec.structs.replace(last, cache_control=cc)
            return


def to_unified(body: wire.MessagesRequest) -> Request:
    if not body.messages:
        raise invalid("messages: at least one message is required", "messages")
    if body.max_tokens < 1:
        raise invalid("max_tokens: Input should be greater than or equal to 1", "max_tokens")
    seen: set[str] = set()
    tools = _tools(body.tools, seen)
    messages = messages_of(body.system, body.messages, seen)
    if body.cache_control is not None:
        _auto_cache(messages, _cc(body.cache_control, seen) or {})
    _top_level(body, seen)
    response_format = None
    oc = body.output_config
    if oc is not None and oc.format is not None and oc.format.type == "json_schema":
        response_format = ResponseFormat(type="json_schema", schema=oc.format.schema)
    return Request(
        model=body.model,
        messages=messages,
        stream=bool(body.stream),
        tools=tools,
        tool_choice=_tool_choice(body.tool_choice) if tools else None,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        stop=body.stop_sequences or None,
        response_format=response_format,
        reasoning=_with_turn_effort(_reasoning(body.thinking, oc), body.messages),
        user=body.metadata.user_id if body.metadata else None,
        droppable=tuple(seen) if seen else (),
    )


def count_request(body: wire.CountTokensRequest) -> Request:
    seen: set[str] = set()  # nothing is counted for a token count
    tools = _tools(body.tools, seen)
    return Request(
        model=body.model,
        messages=messages_of(body.system, body.messages, seen),
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
