"""Unified request -> OpenAI Chat Completions body, with the switches compatible servers need."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import msgspec

from providers.base import drop_none
from providers.openai.reasoning import MODES, echoed, thinking_text
from unified.types import (
    ImagePart,
    Message,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)


class OpenAIOptions(msgspec.Struct, forbid_unknown_fields=True):
    # Which body field carries the output cap: api.openai.com wants max_completion_tokens (reasoning
    # models reject max_tokens); most compatible servers only read max_tokens. None = decide by host.
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] | None = None
    # Assistant thinking back upstream as `reasoning_content`: "echo" or "drop"; None = by provider (see
    # providers/openai/reasoning.py). Resolved once when the provider is built.
    reasoning_content: str | None = None
    # Deprecated alias: true = echo, false = drop.
    send_reasoning_content: bool | None = None
    # Clamp temperature/top_p into the open interval (0, 1) (Zhipu GLM).
    clamp_unit_interval: bool = False
    # Strip the data:...;base64, prefix from image URLs (GLM wants raw base64 or http URLs).
    raw_base64_images: bool = False
    organization: str | None = None
    project: str | None = None

    def __post_init__(self) -> None:
        rc = self.reasoning_content
        if rc is not None and rc not in MODES:
            raise ValueError(f"reasoning_content must be one of {', '.join(MODES)}, not {rc!r}")
        legacy = self.send_reasoning_content
        if rc is not None and legacy is not None and (rc == "echo") != legacy:
            raise ValueError(
                f"send_reasoning_content: {str(legacy).lower()} (deprecated) contradicts reasoning_content: {rc};"
                " keep only reasoning_content"
            )


# Anthropic's top effort has no OpenAI name; xhigh is OpenAI's highest.
EFFORT = {"max": "xhigh"}
ID_OK = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def fit_tool_id(tool_id: str) -> str:
    """OpenAI rejects tool call ids over 40 characters; map long or odd ids the same way for a call and
    its result so they still pair."""
    if ID_OK.match(tool_id):
        return tool_id
    return "call_" + hashlib.sha256(tool_id.encode()).hexdigest()[:32]


def image_url(part: ImagePart, options: OpenAIOptions) -> str:
    if part.url:
        return part.url
    if options.raw_base64_images:
        return part.data or ""
    return f"data:{part.media_type or 'image/png'};base64,{part.data}"


def user_content(parts: list[Any], options: OpenAIOptions) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts) if len(parts) != 1 else parts[0].text
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            out.append({"type": "text", "text": p.text})
        elif isinstance(p, ImagePart):
            out.append({"type": "image_url", "image_url": {"url": image_url(p, options)}})
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


def encode_messages(messages: list[Message], options: OpenAIOptions) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    echo = echoed(messages) if options.reasoning_content == "echo" else set()
    for i, m in enumerate(messages):
        if m.role == "system":
            out.append({"role": "system", "content": "\n\n".join(p.text for p in m.content if isinstance(p, TextPart))})
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
            if i in echo:
                thinking = thinking_text(m)
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
                out.append({"role": "user", "content": user_content(rest, options)})
    return out


def encode_request(
    req: Request, model: str, stream: bool, options: OpenAIOptions, max_tokens_param: str
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": encode_messages(req.messages, options)}
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
        body[max_tokens_param] = req.max_tokens
    temperature, top_p = req.temperature, req.top_p
    if options.clamp_unit_interval:
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
            body["reasoning_effort"] = EFFORT.get(req.reasoning.effort, req.reasoning.effort)
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
    return body
