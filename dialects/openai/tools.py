"""Chat Completions tools -> unified: functions (and the deprecated `functions` list) as they are, `custom`
(freeform) tools as functions of one string `input` (unified.custom), and back: a custom tool's call is
answered as `{"type": "custom", "custom": {"name", "input"}}`.

A custom tool's grammar cannot be enforced by an upstream that has no custom tools: it is written into the
tool's description and counted as `tools.custom` (an `api: responses` upstream takes it as it is)."""

from __future__ import annotations

from typing import Any

from dialects.openai import schema as wire
from unified import custom, fields
from unified.errors import invalid
from unified.types import Tool, ToolCallPart


def _format(fmt: dict[str, Any] | None) -> dict[str, Any]:
    """Chat's custom tool format (grammar nested under `grammar`) in the unified (Responses) flat shape."""
    if not fmt or fmt.get("type") != "grammar":
        return {"type": "text"}
    grammar = fmt.get("grammar")
    if not isinstance(grammar, dict) or not isinstance(grammar.get("definition"), str):
        raise invalid("custom.format.grammar.definition: required for a grammar format", "tools")
    return {"type": "grammar", "definition": grammar["definition"], "syntax": grammar.get("syntax", "lark")}


def tools_in(body: wire.ChatRequest) -> tuple[list[Tool] | None, frozenset[str], tuple[str, ...]]:
    """The unified tools, the names of the custom ones, and `tools.custom` when a grammar cannot be held."""
    out: list[Tool] = []
    customs: set[str] = set()
    grammar = False
    for i, t in enumerate(body.tools or ()):
        if t.type == "custom":
            if t.custom is None:
                raise invalid(f"tools[{i}].custom: required for a custom tool", f"tools[{i}].custom")
            fmt = _format(t.custom.format)
            grammar = grammar or fmt["type"] == "grammar"
            customs.add(t.custom.name)
            out.append(
                Tool(
                    name=t.custom.name,
                    description=custom.describe(t.custom.description, fmt),
                    parameters=custom.PARAMETERS,
                    custom=fmt,
                )
            )
            continue
        f = t.function
        if f is None:
            raise invalid(f"tools[{i}].function: required for a function tool", f"tools[{i}].function")
        out.append(Tool(name=f.name, description=f.description, parameters=f.parameters, strict=f.strict))
    for f in body.functions or ():
        out.append(Tool(name=f.name, description=f.description, parameters=f.parameters, strict=f.strict))
    return out or None, frozenset(customs), (fields.TOOLS_CUSTOM,) if grammar else ()


def call_part(tc: wire.ToolCall, param: str, arguments: Any) -> ToolCallPart:
    """An assistant message's tool call from the history (`arguments` decodes a function's arguments)."""
    if tc.custom is not None:
        return ToolCallPart(id=tc.id, name=tc.custom.name, arguments=custom.arguments(tc.custom.input))
    if tc.function is None:
        raise invalid(f"{param}.function: required", param)
    return ToolCallPart(id=tc.id, name=tc.function.name, arguments=arguments(tc.function.arguments))


def answer_call(p: ToolCallPart, customs: frozenset[str]) -> wire.ResponseToolCall | wire.ResponseCustomCall:
    if p.name in customs:
        return wire.ResponseCustomCall(
            id=p.id, custom=wire.ResponseCustom(name=p.name, input=custom.input_of(p.arguments))
        )
    return wire.ResponseToolCall(id=p.id, function=wire.ResponseFunction(name=p.name, arguments=p.arguments))


def custom_names(body: wire.ChatRequest) -> frozenset[str]:
    if not body.tools:
        return frozenset()
    return frozenset(t.custom.name for t in body.tools if t.type == "custom" and t.custom is not None)
