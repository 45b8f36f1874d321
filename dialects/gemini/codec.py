"""Gemini request bodies -> the unified request, and unified responses -> `GenerateContentResponse`
bodies (Google's `generateContent` reference).

Gemini pairs a functionResponse with its functionCall by `id` when the model gave one and by name
otherwise (Gemini 2.x calls have no ids): calls without an id get one here, and a response without one
takes the earliest unanswered call of that name, so every target sees properly paired tool turns."""

from __future__ import annotations

from typing import Any

import msgspec

from dialects.gemini import schema as wire
from dialects.gemini.content import messages_of
from dialects.gemini.schema import pick
from unified import fields
from unified.errors import invalid
from unified.estimate import estimate_tokens as estimate
from unified.ids import mint
from unified.types import (
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    Usage,
    arguments_object,
)

_encode = msgspec.json.encode
IMAGE_TOKENS = 258  # what Gemini counts for one image up to 384 px


def json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-style schema (`"type": "OBJECT"`, `nullable`) as plain JSON schema: type names in
    lower case and `nullable` folded into the type, recursively; property names are left alone."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    nullable = schema.get("nullable") is True
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key == "type" and isinstance(value, str):
            value = value.lower()
            if nullable:
                value = [value, "null"]
        elif key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            value = {name: json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "anyOf", "any_of", "oneOf", "allOf", "prefixItems"):
            key = "anyOf" if key == "any_of" else key
            value = json_schema(value)
        elif key == "property_ordering":
            key = "propertyOrdering"
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------- request


def _tools(body: wire.GenerateContentRequest) -> list[Tool] | None:
    out: list[Tool] = []
    for t in body.tools or []:
        for fd in pick(t.functionDeclarations, t.function_declarations) or []:
            schema = pick(fd.parametersJsonSchema, fd.parameters_json_schema)
            if schema is None and fd.parameters is not None:
                schema = json_schema(fd.parameters)
            out.append(Tool(name=fd.name, description=fd.description, parameters=schema))
        # googleSearch, codeExecution, urlContext ...: Google's hosted tools, carried as a `gemini:` extra
    return out or None


def _tool_choice(
    body: wire.GenerateContentRequest, tools: list[Tool] | None
) -> tuple[ToolChoice | None, list[Tool] | None]:
    tc = pick(body.toolConfig, body.tool_config)
    fcc = pick(tc.functionCallingConfig, tc.function_calling_config) if tc is not None else None
    if fcc is None or not tools:
        return None, tools
    mode = (fcc.mode or "AUTO").upper()
    allowed = pick(fcc.allowedFunctionNames, fcc.allowed_function_names)
    if mode == "NONE":
        return ToolChoice(mode="none"), tools
    if mode not in ("ANY", "VALIDATED"):
        return ToolChoice(mode="auto"), tools
    if allowed:
        # Only the allowed functions are offered, so "any call" means one of them.
        tools = [t for t in tools if t.name in allowed] or tools
        if len(allowed) == 1:
            return ToolChoice(mode="tool", name=allowed[0]), tools
    return ToolChoice(mode="required" if mode == "ANY" else "auto"), tools


def _reasoning(tc: wire.ThinkingConfig | None) -> Reasoning | None:
    if tc is None:
        return None
    budget = pick(tc.thinkingBudget, tc.thinking_budget)
    level = pick(tc.thinkingLevel, tc.thinking_level)
    if budget == 0:
        return Reasoning(enabled=False)
    if level:
        # HIGH is Gemini 3's default, and gemini-cli sends it on every call whatever the model: it means
        # "think as usual", not an effort to force on upstreams that may not take one.
        effort = level.lower()
        return Reasoning(enabled=True, effort=None if effort == "high" else effort)
    if budget is not None and budget > 0:
        return Reasoning(enabled=True, budget_tokens=budget)
    if budget is not None:  # -1: dynamic thinking
        return Reasoning(enabled=True)
    return None


def _response_format(gc: wire.GenerationConfig) -> ResponseFormat | None:
    mime = pick(gc.responseMimeType, gc.response_mime_type)
    if mime != "application/json":
        return None
    schema = pick(gc.responseJsonSchema, gc.response_json_schema)
    if schema is None:
        raw = pick(gc.responseSchema, gc.response_schema)
        schema = json_schema(raw) if raw is not None else None
    if schema is None:
        return ResponseFormat(type="json_object")
    return ResponseFormat(type="json_schema", schema=json_schema(schema), name="response")


HOSTED_TOOLS = fields.GEMINI_HOSTED


def _hosted(body: wire.GenerateContentRequest) -> list[dict[str, Any]]:
    out = []
    for t in body.tools or []:
        for name in HOSTED_TOOLS:
            value = pick(getattr(t, name), getattr(t, _snake(name)))
            if value is not None:
                out.append({name: value})
    return out


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _extra(body: wire.GenerateContentRequest) -> dict[str, Any] | None:
    """Settings only Gemini upstreams understand, for a `gemini` provider to pass on (`gemini:` extras)."""
    extra: dict[str, Any] = {}
    hosted = _hosted(body)
    if hosted:
        extra["gemini:tools"] = hosted
    safety = pick(body.safetySettings, body.safety_settings)
    if safety:
        extra["gemini:safetySettings"] = [
            {k: v for k, v in (("category", s.category), ("threshold", s.threshold), ("method", s.method)) if v}
            for s in safety
        ]
    cached = pick(body.cachedContent, body.cached_content)
    if cached:
        extra["gemini:cachedContent"] = cached
    return extra or None


def to_unified(body: wire.GenerateContentRequest, model: str, stream: bool) -> Request:
    messages = messages_of(body)
    if not any(m.role != "system" for m in messages):
        raise invalid("contents: must not be empty", "contents")
    tools = _tools(body)
    choice, tools = _tool_choice(body, tools)
    gc = pick(body.generationConfig, body.generation_config) or wire.GenerationConfig()
    top_k = pick(gc.topK, gc.top_k)
    extra = _extra(body)
    return Request(
        model=model,
        messages=messages,
        stream=stream,
        tools=tools,
        tool_choice=choice,
        max_tokens=pick(gc.maxOutputTokens, gc.max_output_tokens),
        temperature=gc.temperature,
        top_p=pick(gc.topP, gc.top_p),
        top_k=int(top_k) if top_k is not None else None,
        seed=gc.seed,
        presence_penalty=pick(gc.presencePenalty, gc.presence_penalty),
        frequency_penalty=pick(gc.frequencyPenalty, gc.frequency_penalty),
        stop=pick(gc.stopSequences, gc.stop_sequences) or None,
        n=pick(gc.candidateCount, gc.candidate_count),
        response_format=_response_format(gc),
        reasoning=_reasoning(pick(gc.thinkingConfig, gc.thinking_config)),
        extra=extra,
        droppable=droppable(extra),
    )


def droppable(extra: dict[str, Any] | None) -> tuple[str, ...]:
    """The `gemini:` extras as unified.fields names (one per hosted tool), for a non-Gemini target to count
    as dropped (a `gemini` provider carries them all)."""
    if not extra:
        return ()
    out: list[str] = []
    for key, value in extra.items():
        field = key.partition(":")[2]
        if field == "tools":
            out.extend("tools." + next(iter(t)) for t in value)
        else:
            out.append(field)
    return tuple(out)


def count_request(body: wire.CountTokensRequest, model: str) -> Request:
    inner = pick(body.generateContentRequest, body.generate_content_request)
    if inner is None:
        inner = wire.GenerateContentRequest(contents=body.contents or [])
    elif body.contents:
        raise invalid("contents and generateContentRequest cannot both be set", "contents")
    tools = _tools(inner)
    return Request(model=model, messages=messages_of(inner), tools=tools)


def estimate_tokens(req: Request) -> int:
    """For upstreams that cannot count; Gemini's 258 tokens per image, text documents by their characters."""
    return estimate(req, IMAGE_TOKENS, text_documents=True)


# ---------------------------------------------------------------------------------------------- response


FINISH = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


def usage_metadata(u: Usage) -> dict[str, int]:
    """Gemini counts thoughts apart from the answer: candidates + thoughts = the unified output."""
    thoughts = min(u.reasoning_tokens, u.output_tokens)
    out = {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": u.output_tokens - thoughts,
        "totalTokenCount": u.input_tokens + u.output_tokens,
    }
    if u.cache_read_tokens:
        out["cachedContentTokenCount"] = u.cache_read_tokens
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    return out


def call_part(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"functionCall": {"id": call_id, "name": name, "args": args}}


def thought_part(text: str, signature: str | None) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text, "thought": True}
    if signature:
        part["thoughtSignature"] = signature
    return part


def response_id(upstream_id: str) -> str:
    return upstream_id or mint("", 22)


def from_unified(resp: Response, client_model: str) -> bytes:
    parts: list[dict[str, Any]] = []
    for p in resp.content:
        if isinstance(p, TextPart):
            if p.text:
                parts.append({"text": p.text})
        elif isinstance(p, ToolCallPart):
            parts.append(call_part(p.id, p.name, arguments_object(p.arguments)))
        elif isinstance(p, ThinkingPart) and not p.redacted and (p.text or p.signature):
            parts.append(thought_part(p.text, p.signature))
    content: dict[str, Any] = {"role": "model"}
    if parts:
        content["parts"] = parts
    candidate = {"content": content, "finishReason": FINISH.get(resp.stop_reason, "STOP"), "index": 0}
    return _encode(
        {
            "candidates": [candidate],
            "usageMetadata": usage_metadata(resp.usage),
            "modelVersion": client_model,
            "responseId": response_id(resp.id),
        }
    )
