"""Unified request -> Gemini `generateContent` body, and the call ids that carry thought signatures."""

from __future__ import annotations

import re
from typing import Any

from unified.errors import invalid
from unified.ids import mint
from unified.types import (
    DocumentPart,
    ImagePart,
    Message,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    arguments_object,
)

SIGNATURE_MARK = "__thought__"
SKIP_SIGNATURE = "skip_thought_signature_validator"  # Google's sentinel for calls it did not sign
NEEDS_SIGNATURE = re.compile(r"gemini-([3-9]|\d\d)")
# reasoning effort -> thinking budget (Gemini 2.x) ; Gemini 3 takes the level itself
EFFORT_BUDGET = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
MAX_STOP_SEQUENCES = 5


# ---------------------------------------------------------------------------------------------- ids


def call_id(gemini_id: str | None, signature: str | None) -> str:
    """The id a client sees: Gemini's (or a new one) with the call's thought signature folded in."""
    base = gemini_id or mint("call_", 24)
    if not signature:
        return base
    return base + SIGNATURE_MARK + signature.replace("+", "-").replace("/", "_").rstrip("=")


def split_id(client_id: str) -> tuple[str, str | None]:
    """(Gemini's id, signature or None) from an id `call_id` made; any other id passes unchanged."""
    base, mark, sig = client_id.partition(SIGNATURE_MARK)
    if not mark or not sig:
        return client_id, None
    sig = sig.replace("-", "+").replace("_", "/")
    return base, sig + "=" * (-len(sig) % 4)


# ---------------------------------------------------------------------------------------------- request


def _media(p: ImagePart | DocumentPart) -> dict[str, Any]:
    if isinstance(p, ImagePart) and p.url:
        return {"fileData": {"fileUri": p.url, "mimeType": p.media_type or "image/jpeg"}}
    return {"inlineData": {"mimeType": p.media_type or "image/png", "data": p.data}}


def _response(p: ToolResultPart) -> dict[str, Any]:
    text = "\n".join(c.text for c in p.content if isinstance(c, TextPart))
    return {"error": text} if p.is_error else {"output": text}


class _Turns:
    """Unified messages -> `contents` (alternating user/model) plus the system instruction."""

    def __init__(self, model: str) -> None:
        self.contents: list[dict[str, Any]] = []
        self.system: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}  # tool-call id -> function name, for functionResponse
        self.sentinel = bool(NEEDS_SIGNATURE.search(model))

    def add(self, role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})

    def message(self, m: Message) -> None:
        if m.role == "system":
            self.system.extend({"text": p.text} for p in m.content if isinstance(p, TextPart) and p.text)
            return
        parts: list[dict[str, Any]] = []
        signed = False
        for p in m.content:
            if isinstance(p, TextPart):
                if p.text:
                    parts.append({"text": p.text})
            elif isinstance(p, ImagePart | DocumentPart):
                parts.append(_media(p))
            elif isinstance(p, ToolCallPart):
                gid, sig = split_id(p.id)
                self.names[p.id] = p.name
                part: dict[str, Any] = {
                    "functionCall": {"id": gid, "name": p.name, "args": arguments_object(p.arguments)}
                }
                if sig:
                    part["thoughtSignature"] = sig
                    signed = True
                parts.append(part)
            elif isinstance(p, ToolResultPart):
                name = p.name or self.names.get(p.tool_call_id)
                if not name:
                    raise invalid(f"tool result for id {p.tool_call_id!r} does not follow a tool call with that id")
                gid, _ = split_id(p.tool_call_id)
                parts.append({"functionResponse": {"id": gid, "name": name, "response": _response(p)}})
                parts.extend(_media(c) for c in p.content if isinstance(c, ImagePart))
            # ThinkingPart: Gemini takes no thought text back; its signatures travel with the calls
        if m.role == "assistant":
            if self.sentinel and not signed:
                first = next((q for q in parts if "functionCall" in q), None)
                if first is not None:
                    first["thoughtSignature"] = SKIP_SIGNATURE
            self.add("model", parts)
        else:
            self.add("user", parts)


def _thinking(req: Request, model: str) -> dict[str, Any] | None:
    r = req.reasoning
    if r is None:
        return None
    gemini3 = bool(NEEDS_SIGNATURE.search(model))
    if not r.enabled or r.effort == "none":
        return {"thinkingLevel": "minimal"} if gemini3 else {"thinkingBudget": 0}
    config: dict[str, Any] = {"includeThoughts": True}
    if r.budget_tokens:
        config["thinkingBudget"] = r.budget_tokens
    elif r.effort in _LEVELS:
        if gemini3:
            config["thinkingLevel"] = _LEVELS[r.effort]
        else:
            config["thinkingBudget"] = EFFORT_BUDGET[r.effort]
    return config


def _generation_config(req: Request, model: str) -> dict[str, Any]:
    gc: dict[str, Any] = {}
    for field, key in (
        ("max_tokens", "maxOutputTokens"),
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("n", "candidateCount"),
    ):
        value = getattr(req, field)
        if value is not None:
            gc[key] = value
    if req.stop:
        gc["stopSequences"] = req.stop[:MAX_STOP_SEQUENCES]
    rf = req.response_format
    if rf is not None and rf.type != "text":
        gc["responseMimeType"] = "application/json"
        if rf.type == "json_schema" and rf.schema:
            gc["responseJsonSchema"] = rf.schema
    thinking = _thinking(req, model)
    if thinking is not None:
        gc["thinkingConfig"] = thinking
    return gc


def encode_request(req: Request, model: str) -> dict[str, Any]:
    if req.n is not None and req.n > 1:
        raise invalid("n: Gemini streams and tool calls return one candidate; ask for one", "n")
    turns = _Turns(model)
    for m in req.messages:
        turns.message(m)
    if not turns.contents:
        raise invalid("messages: at least one message with content is required", "messages")
    body: dict[str, Any] = {"contents": turns.contents}
    if turns.system:
        body["systemInstruction"] = {"parts": turns.system}
    if req.tools:
        decls = []
        for t in req.tools:
            d: dict[str, Any] = {"name": t.name}
            if t.description:
                d["description"] = t.description
            if t.parameters:
                d["parametersJsonSchema"] = t.parameters
            decls.append(d)
        body["tools"] = [{"functionDeclarations": decls}]
        tc = req.tool_choice
        if tc is not None:
            fcc: dict[str, Any] = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}[tc.mode]}
            if tc.mode == "tool" and tc.name:
                fcc["allowedFunctionNames"] = [tc.name]
            body["toolConfig"] = {"functionCallingConfig": fcc}
    gc = _generation_config(req, model)
    if gc:
        body["generationConfig"] = gc
    for key, value in (req.extra or {}).items():
        if key == "gemini:tools":  # Google's hosted tools (googleSearch ...), beside the functions
            body.setdefault("tools", []).extend(value)
        elif key.startswith("gemini:"):  # settings only Gemini knows (safetySettings, cachedContent)
            body[key[7:]] = value
    return body
