"""Anthropic Messages upstream (api.anthropic.com and Anthropic-compatible endpoints).

Translation rules: system prompts hoisted to the top-level `system`; same-role turns merged
and a user turn first; tool results placed first in the user turn right after their calls (a call without
a result gets a synthetic one, a result without a call is a 400 naming the id); `max_tokens` always sent
(the client's, else the provider's `max_tokens` setting, else 4096); `temperature` and `top_p` never both;
thinking blocks only replayed when they carry Anthropic's signature (unchanged, in their place), and
thinking left off for a tool-loop step whose assistant turn has no such block (the API refuses it)."""

from __future__ import annotations

import base64
from typing import Any

from providers.base import drop_none
from unified.errors import invalid
from unified.ids import safe_tool_id
from unified.media import SUPPORTED_IMAGE_TYPES
from unified.types import (
    DocumentPart,
    ImagePart,
    Message,
    Request,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    arguments_object,
)

DEFAULT_MAX_TOKENS = 4096
# reasoning effort (OpenAI / Ollama clients) -> thinking budget
EFFORT_BUDGET = {"low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768, "max": 32768}
NO_RESULT = "(no result)"


def _cc(block: dict[str, Any], part: Any) -> dict[str, Any]:
    if part.cache_control is not None:
        block["cache_control"] = part.cache_control
    return block


# ---------------------------------------------------------------------------------------------- request


def _image(p: ImagePart) -> dict[str, Any]:
    if p.url:
        return _cc({"type": "image", "source": {"type": "url", "url": p.url}}, p)
    if p.media_type not in SUPPORTED_IMAGE_TYPES:
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
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_tool_id(p.tool_call_id, "toolu_empty")}
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
                    {
                        "type": "tool_use",
                        "id": safe_tool_id(p.id, "toolu_empty"),
                        "name": p.name,
                        "input": arguments_object(p.arguments),
                    },
                    p,
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


def common_body(req: Request, model: str) -> dict[str, Any]:
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
                    {
                        "name": t.name,
                        "description": t.description,
                        "input_schema": _input_schema(t.parameters),
                        "strict": t.strict or None,
                    }
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


def encode_request(req: Request, model: str, stream: bool, default_max_tokens: int) -> dict[str, Any]:
    if req.n is not None and req.n > 1:
        raise invalid("n: Anthropic models return one choice per request", "n")
    body = common_body(req, model)
    max_tokens = req.max_tokens or default_max_tokens
    thinking = thinking_param(req)
    if thinking is not None and thinking["type"] != "disabled" and not loop_can_think(body["messages"]):
        # A tool loop whose assistant turn has no signed thinking (it came from a client that cannot carry
        # signatures, e.g. OpenAI chat) is refused with thinking on: answer this step without it.
        thinking = None
    if thinking is not None and thinking.get("type") == "enabled":
        if thinking["budget_tokens"] >= max_tokens:
            if req.max_tokens is None:
                max_tokens = thinking["budget_tokens"] + default_max_tokens
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


def loop_can_think(turns: list[dict[str, Any]]) -> bool:
    """Whether Anthropic accepts thinking for these turns: when the last user turn answers tool calls, the
    assistant turn before it must start with a thinking or redacted_thinking block."""
    if len(turns) < 2 or turns[-1]["role"] != "user" or turns[-2]["role"] != "assistant":
        return True
    if not any(b["type"] == "tool_result" for b in turns[-1]["content"]):
        return True
    first = turns[-2]["content"][0]["type"] if turns[-2]["content"] else None
    return first in ("thinking", "redacted_thinking")


def thinking_param(req: Request) -> dict[str, Any] | None:
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


def _input_schema(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic requires an object schema; a tool without parameters takes an empty object."""
    if not parameters:
        return {"type": "object", "properties": {}}
    if "type" not in parameters:
        return {"type": "object", **parameters}
    return parameters
