"""Unified request -> OpenAI Responses API body (`POST /responses`).

The gateway is stateless, so every request carries the whole history with `store: false`; reasoning goes
back only as the opaque `encrypted_content` a Responses upstream gave out (other thinking cannot be
verified there and is left out). Custom (freeform) and namespaced tools are restored from the unified
encoding described in `unified.types.Tool`."""

from __future__ import annotations

from typing import Any

from unified.types import (
    DocumentPart,
    ImagePart,
    Message,
    Request,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
    arguments_object,
)

# The API refuses a smaller output cap; a chat client may legally ask for less, so it is raised to this.
MIN_OUTPUT_TOKENS = 16
ENCRYPTED_REASONING = "reasoning.encrypted_content"
# Top-level fields a client's extras may set on a Responses body (anything else would be a 400 there).
PASSABLE_EXTRAS = frozenset(
    {
        "include",
        "metadata",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "text",
        "truncation",
        "max_tool_calls",
        "top_logprobs",
    }
)


class ToolKinds:
    """How each unified tool name goes on the wire: (kind, namespace, wire name)."""

    def __init__(self, tools: list[Tool] | None) -> None:
        self.by_name: dict[str, tuple[str, str | None, str]] = {}
        for t in tools or []:
            wire = t.name
            if t.namespace and t.name.startswith(t.namespace + "__"):
                wire = t.name[len(t.namespace) + 2 :]
            self.by_name[t.name] = ("custom" if t.custom is not None else "function", t.namespace, wire)

    def of(self, name: str) -> tuple[str, str | None, str]:
        return self.by_name.get(name, ("function", None, name))


def _image(part: ImagePart) -> dict[str, Any]:
    url = part.url or f"data:{part.media_type or 'image/png'};base64,{part.data}"
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _user_part(part: Any) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return _image(part)
    if isinstance(part, DocumentPart):
        return {
            "type": "input_file",
            "file_data": f"data:{part.media_type};base64,{part.data}",
            "filename": part.title or "document.pdf",
        }
    return None


def _tool_output(part: ToolResultPart) -> str | list[dict[str, Any]]:
    texts = [c.text for c in part.content if isinstance(c, TextPart)]
    prefix = "Error: " if part.is_error else ""
    if not any(isinstance(c, ImagePart) for c in part.content):
        return prefix + "".join(texts)
    out: list[dict[str, Any]] = [{"type": "input_text", "text": prefix}] if prefix else []
    for c in part.content:
        out.append({"type": "input_text", "text": c.text} if isinstance(c, TextPart) else _image(c))
    return out


def _call_item(part: ToolCallPart, kinds: ToolKinds, custom_calls: set[str]) -> dict[str, Any]:
    kind, namespace, wire = kinds.of(part.name)
    if kind == "custom":
        custom_calls.add(part.id)
        value = arguments_object(part.arguments).get("input")
        text = value if isinstance(value, str) else part.arguments
        return {"type": "custom_tool_call", "call_id": part.id, "name": wire, "input": text}
    item = {"type": "function_call", "call_id": part.id, "name": wire, "arguments": part.arguments or "{}"}
    if namespace:
        item["namespace"] = namespace
    return item


def encode_input(messages: list[Message], kinds: ToolKinds) -> tuple[str | None, list[dict[str, Any]], bool]:
    """(instructions, input items, whether encrypted reasoning is replayed). Leading system messages
    become `instructions`; later ones stay in place as system items."""
    items: list[dict[str, Any]] = []
    instructions: list[str] = []
    custom_calls: set[str] = set()
    replays_reasoning = False
    leading = True
    for m in messages:
        if m.role == "system":
            text = "\n\n".join(p.text for p in m.content if isinstance(p, TextPart))
            if leading:
                instructions.append(text)
            else:
                items.append({"type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]})
            continue
        leading = False
        if m.role == "assistant":
            for p in m.content:
                if isinstance(p, ThinkingPart):
                    if p.encrypted:
                        summary = [{"type": "summary_text", "text": p.text}] if p.text else []
                        items.append({"type": "reasoning", "summary": summary, "encrypted_content": p.encrypted})
                        replays_reasoning = True
                elif isinstance(p, TextPart):
                    if p.text:
                        items.append(
                            {
                                "type": "message",
                                "role": "assistant",
                                "content": [{"type": "output_text", "text": p.text}],
                            }
                        )
                elif isinstance(p, ToolCallPart):
                    items.append(_call_item(p, kinds, custom_calls))
            continue
        parts: list[dict[str, Any]] = []
        for p in m.content:
            if isinstance(p, ToolResultPart):
                kind = "custom_tool_call_output" if p.tool_call_id in custom_calls else "function_call_output"
                items.append({"type": kind, "call_id": p.tool_call_id, "output": _tool_output(p)})
            else:
                wire = _user_part(p)
                if wire is not None:
                    parts.append(wire)
        if parts:
            items.append({"type": "message", "role": "user", "content": parts})
    return ("\n\n".join(instructions) if instructions else None), items, replays_reasoning


def encode_tools(req: Request) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in req.tools or []:
        kinds = ToolKinds([t])
        _, namespace, wire = kinds.of(t.name)
        if t.custom is not None:
            entry: dict[str, Any] = {"type": "custom", "name": wire, "format": t.custom}
        else:
            # Responses makes functions strict unless told otherwise; the unified default is the chat one.
            entry = {
                "type": "function",
                "name": wire,
                "parameters": t.parameters or {"type": "object", "properties": {}},
                "strict": bool(t.strict),
            }
        if t.description:
            entry["description"] = t.description
        if namespace:
            group = groups.get(namespace)
            if group is None:
                group = groups[namespace] = []
                tools.append({"type": "namespace", "name": namespace, "description": "", "tools": group})
            group.append(entry)
        else:
            tools.append(entry)
    tools.extend(req.hosted_tools or [])
    return tools


def encode_request(req: Request, model: str, stream: bool) -> dict[str, Any]:
    kinds = ToolKinds(req.tools)
    instructions, items, replays_reasoning = encode_input(req.messages, kinds)
    body: dict[str, Any] = {"model": model, "input": items, "store": False}
    if instructions is not None:
        body["instructions"] = instructions
    tools = encode_tools(req)
    if tools:
        body["tools"] = tools
        tc = req.tool_choice
        if tc is not None:
            if tc.mode == "tool" and tc.name and any(h.get("type") == tc.name for h in req.hosted_tools or ()):
                body["tool_choice"] = {"type": tc.name}  # a forced hosted tool (unified.types.Request.hosted_tools)
            elif tc.mode == "tool" and tc.name:
                kind, _, wire = kinds.of(tc.name)
                body["tool_choice"] = {"type": kind, "name": wire}
            elif tc.mode != "tool":
                body["tool_choice"] = tc.mode
            if tc.parallel is False:
                body["parallel_tool_calls"] = False
    if req.max_tokens is not None:
        body["max_output_tokens"] = max(MIN_OUTPUT_TOKENS, req.max_tokens)
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.user is not None:
        body["user"] = req.user
    rf = req.response_format
    if rf is not None and rf.type != "text":
        fmt: dict[str, Any] = {"type": rf.type}
        if rf.type == "json_schema":
            fmt.update({"name": rf.name or "response", "schema": rf.schema or {}})
            if rf.strict is not None:
                fmt["strict"] = rf.strict
        body["text"] = {"format": fmt}
    include: list[str] = []
    r = req.reasoning
    if r is not None:
        reasoning: dict[str, Any] = {}
        if not r.enabled:
            reasoning["effort"] = "none"
        elif r.effort:
            reasoning["effort"] = "xhigh" if r.effort == "max" else r.effort  # max: Anthropic's top level
        elif r.budget_tokens:
            b = r.budget_tokens
            reasoning["effort"] = "low" if b <= 2048 else "medium" if b <= 8192 else "high"
        if r.summary and r.enabled:
            reasoning["summary"] = r.summary
        if reasoning:
            body["reasoning"] = reasoning
        if r.enabled:
            include.append(ENCRYPTED_REASONING)  # stateless: the next turn needs the reasoning back
    elif replays_reasoning:
        include.append(ENCRYPTED_REASONING)
    for key, value in (req.extra or {}).items():
        key = key.removeprefix("responses:")  # a Responses client's own fields (dialects/responses)
        if key == "include" and isinstance(value, list):
            include.extend(v for v in value if isinstance(v, str) and v not in include)
        elif key == "verbosity":  # chat's name (either dialect sends it so) for text.verbosity
            text = body.setdefault("text", {})
            text.setdefault("verbosity", value)
        elif key in PASSABLE_EXTRAS and key not in body:
            body[key] = value
    if include:
        body["include"] = include
    if stream:
        body["stream"] = True
    return body
