"""Gemini request bodies -> the unified request, and unified responses -> `GenerateContentResponse`
bodies (Google's `generateContent` reference).

Gemini pairs a functionResponse with its functionCall by `id` when the model gave one and by name
otherwise (Gemini 2.x calls have no ids): calls without an id get one here, and a response without one
takes the earliest unanswered call of that name, so every target sees properly paired tool turns."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from dialects.gemini import schema as wire
from dialects.gemini.schema import pick
from unified.errors import invalid
from unified.ids import mint
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

_encode = msgspec.json.encode
_ROLES = {"user": "user", "model": "assistant", "function": "user", "tool": "user", None: "user", "": "user"}
# Keys under which a tool's answer is commonly wrapped (`{"output": "..."}` from gemini-cli, `{"result": ...}`
# from the SDKs' automatic function calling): unwrapped to plain text for targets that take text results.
_RESULT_KEYS = ("output", "result", "content", "text")
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


# ---------------------------------------------------------------------------------------------- content


def standard_base64(data: str) -> str:
    """Google takes bytes in either base64 alphabet and the Python SDK sends the URL-safe one; every other
    API wants the standard one, padded."""
    if "-" in data or "_" in data:
        data = data.replace("-", "+").replace("_", "/")
    if len(data) % 4:
        data += "=" * (-len(data) % 4)
    return data


def _blob_part(blob: wire.Blob, where: str) -> Part:
    mime = (pick(blob.mimeType, blob.mime_type) or "").lower()
    if not blob.data:
        raise invalid(f"{where}.data: Field required", f"{where}.data")
    data = standard_base64(blob.data)
    if mime.startswith("image/"):
        return ImagePart(data=data, media_type=mime)
    if mime == "application/pdf" or mime.startswith("text/"):
        return DocumentPart(data=data, media_type=mime)
    raise invalid(
        f"{where}.mimeType: {mime or 'a missing MIME type'} is not supported by this gateway (images, PDF and text only)",
        f"{where}.mimeType",
    )


def _file_part(fd: wire.FileData, where: str) -> Part:
    uri = pick(fd.fileUri, fd.file_uri)
    mime = (pick(fd.mimeType, fd.mime_type) or "").lower()
    if not uri:
        raise invalid(f"{where}.fileUri: Field required", f"{where}.fileUri")
    if mime and not mime.startswith("image/"):
        raise invalid(f"{where}: only image files can be referenced by URI through this gateway", where)
    return ImagePart(url=uri, media_type=mime or None)


def _result(fr: wire.FunctionResponse, call_id: str, where: str) -> ToolResultPart:
    response = fr.response or {}
    text: str
    is_error = False
    if len(response) == 1:
        ((key, value),) = response.items()
        if key == "error":
            is_error = True
        if isinstance(value, str) and (key in _RESULT_KEYS or key == "error"):
            text = value
        else:
            text = _encode(value if key == "error" else response).decode()
    else:
        text = _encode(response).decode() if response else ""
    content: list[TextPart | ImagePart] = [TextPart(text=text)] if text else []
    for j, p in enumerate(fr.parts or []):
        blob = pick(p.inlineData, p.inline_data)
        if blob is not None:
            part = _blob_part(blob, f"{where}.parts[{j}].inlineData")
            if isinstance(part, ImagePart):
                content.append(part)
    return ToolResultPart(tool_call_id=call_id, content=content, is_error=is_error, name=fr.name)


class _Pairing:
    """Tool-call ids across the turns of one request: given, or made up and matched by name."""

    def __init__(self) -> None:
        self.open: list[tuple[str, str]] = []  # (name, id) of calls not answered yet, oldest first
        self.made = 0

    def call(self, fc: wire.FunctionCall) -> str:
        call_id = fc.id
        if not call_id:
            self.made += 1
            call_id = f"call_gemini_{self.made}"
        self.open.append((fc.name, call_id))
        return call_id

    def answer(self, fr: wire.FunctionResponse) -> str:
        for i, (name, call_id) in enumerate(self.open):
            if (fr.id and call_id == fr.id) or (not fr.id and name == fr.name):
                del self.open[i]
                return call_id
        if fr.id:
            return fr.id
        self.made += 1
        return f"call_gemini_{self.made}"


def _parts(content: wire.Content, where: str, role: str, pairing: _Pairing) -> list[Part]:
    out: list[Part] = []
    for j, p in enumerate(content.parts):
        at = f"{where}.parts[{j}]"
        fc = pick(p.functionCall, p.function_call)
        fr = pick(p.functionResponse, p.function_response)
        blob = pick(p.inlineData, p.inline_data)
        fd = pick(p.fileData, p.file_data)
        if fc is not None:
            if role != "assistant":
                raise invalid(f"{at}.functionCall: function calls belong in `model` turns", f"{at}.functionCall")
            out.append(ToolCallPart(id=pairing.call(fc), name=fc.name, arguments=_encode(fc.args or {}).decode()))
        elif fr is not None:
            out.append(_result(fr, pairing.answer(fr), at + ".functionResponse"))
        elif blob is not None:
            out.append(_blob_part(blob, at + ".inlineData"))
        elif fd is not None:
            out.append(_file_part(fd, at + ".fileData"))
        elif p.thought:
            if role == "assistant":
                sig = pick(p.thoughtSignature, p.thought_signature)
                last = out[-1] if out else None
                if isinstance(last, ThinkingPart) and last.signature is None and not last.redacted:
                    # A streamed thought comes back as several parts, its signature on the last one:
                    # one block again, so an upstream that checks signatures sees text and signature together.
                    out[-1] = ThinkingPart(text=last.text + (p.text or ""), signature=sig)
                else:
                    out.append(ThinkingPart(text=p.text or "", signature=sig))
        elif p.text:
            out.append(TextPart(text=p.text))
        # executableCode, codeExecutionResult, videoMetadata ...: produced and consumed inside Google only
    return out


def messages_of(body: wire.GenerateContentRequest) -> list[Message]:
    out: list[Message] = []
    system = pick(body.systemInstruction, body.system_instruction)
    if system is not None:
        texts: list[Part] = [TextPart(text=p.text) for p in system.parts if p.text and not p.thought]
        if texts:
            out.append(Message(role="system", content=texts))
    pairing = _Pairing()
    for i, c in enumerate(body.contents):
        where = f"contents[{i}]"
        role = _ROLES.get(c.role)
        if role is None:
            raise invalid(f"{where}.role: Please use a valid role: user, model.", f"{where}.role")
        parts = _parts(c, where, role, pairing)
        if parts:
            out.append(Message(role=role, content=parts))  # type: ignore[arg-type]
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


HOSTED_TOOLS = (
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
    "googleMaps",
    "fileSearch",
    "computerUse",
)


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
        extra=_extra(body),
    )


def dropped_fields(req: Request, provider_type: str) -> list[str]:
    """The `gemini:` extras a target of another kind will not send (for llm_link_dropped_fields_total):
    extras are namespaced by provider kind, so this needs no knowledge of any particular provider."""
    out: list[str] = []
    for key, value in (req.extra or {}).items():
        kind, _, field = key.partition(":")
        if kind == provider_type:
            continue
        if field == "tools":
            out.extend("tools." + next(iter(t)) for t in value)
        else:
            out.append(field)
    return out


def count_request(body: wire.CountTokensRequest, model: str) -> Request:
    inner = pick(body.generateContentRequest, body.generate_content_request)
    if inner is None:
        inner = wire.GenerateContentRequest(contents=body.contents or [])
    elif body.contents:
        raise invalid("contents and generateContentRequest cannot both be set", "contents")
    tools = _tools(inner)
    return Request(model=model, messages=messages_of(inner), tools=tools)


def estimate_tokens(req: Request) -> int:
    """For upstreams that cannot count: ceil(chars / 4) over texts, calls, results and tool definitions,
    plus Gemini's 258 tokens per image or document."""
    chars = 0
    media = 0
    for m in req.messages:
        for p in m.content:
            if isinstance(p, TextPart | ThinkingPart):
                chars += len(p.text)
            elif isinstance(p, ToolCallPart):
                chars += len(p.name) + len(p.arguments)
            elif isinstance(p, ToolResultPart):
                for c in p.content:
                    if isinstance(c, TextPart):
                        chars += len(c.text)
                    else:
                        media += 1
            elif isinstance(p, DocumentPart) and p.media_type.startswith("text/"):
                chars += len(p.data) * 3 // 4  # base64 of the text
            else:
                media += 1
    for t in req.tools or []:
        chars += len(t.name) + len(t.description or "") + len(_encode(t.parameters or {}))
    return math.ceil(chars / 4) + IMAGE_TOKENS * media


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
