"""Custom (freeform) tools as unified functions: a custom tool is a function of one string `input`, its call's
arguments the JSON object {"input": text} (see unified.types.Tool.custom). Shared by the dialects whose
clients define custom tools (Responses, Chat Completions) and the providers that answer them."""

from __future__ import annotations

from typing import Any

import msgspec

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's whole input, as free text."}},
    "required": ["input"],
    "additionalProperties": False,
}

_encode = msgspec.json.encode


def describe(description: str | None, fmt: dict[str, Any]) -> str | None:
    """The tool's description, with its grammar (Responses' flat format shape) spelled out so a model that
    cannot be held to it can still follow it."""
    out = description or ""
    if fmt.get("type") == "grammar" and fmt.get("definition"):
        out += f"\n\nThe input must match this {fmt.get('syntax', 'lark')} grammar:\n{fmt['definition']}"
    return out or None


def arguments(text: str) -> str:
    """A custom tool call's input as unified function arguments."""
    return _encode({"input": text}).decode()


def input_of(args: str) -> str:
    """Unified function arguments of a custom tool call back to its raw input (lenient: a model that
    answered with something else than {"input": "..."} gets its text passed on)."""
    try:
        value = msgspec.json.decode(args)
    except msgspec.DecodeError:
        return args
    if isinstance(value, dict):
        inner = value.get("input")
        if isinstance(inner, str):
            return inner
        if len(value) == 1:
            only = next(iter(value.values()))
            if isinstance(only, str):
                return only
    return value if isinstance(value, str) else args
