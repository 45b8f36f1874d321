"""Google's Generative Language API (Gemini): `generateContent`, `streamGenerateContent?alt=sse`,
`countTokens`, `batchEmbedContents` and the model list, under `/v1beta`, keyed by `x-goog-api-key`.

Translation rules: system messages become `systemInstruction`; turns alternate `user` / `model`, tool
results go as `functionResponse` parts (with the call's name, which Gemini requires) in a user turn;
tools as `functionDeclarations` with `parametersJsonSchema`. Gemini 3 models must get each function
call's `thoughtSignature` back on later turns: it rides inside the call id this provider hands out
(`<id>__thought__<signature>`, in id-safe characters), so any client that returns ids returns it; a
call that comes back without one gets Google's documented validator-skip sentinel."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import msgspec

from providers import gemini_wire as gw
from providers.base import HTTPProvider, ModelInfo
from providers.sse import iter_sse
from unified.errors import GatewayError, invalid, kind_for_status
from unified.ids import mint
from unified.types import (
    FLUSH,
    DocumentPart,
    EmbedRequest,
    EmbedResponse,
    Event,
    Finish,
    ImagePart,
    Message,
    Part,
    Request,
    Response,
    Start,
    StopReason,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
    arguments_object,
)

SIGNATURE_MARK = "__thought__"
SKIP_SIGNATURE = "skip_thought_signature_validator"  # Google's sentinel for calls it did not sign
_NEEDS_SIGNATURE = re.compile(r"gemini-([3-9]|\d\d)")
# reasoning effort -> thinking budget (Gemini 2.x) ; Gemini 3 takes the level itself
EFFORT_BUDGET = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
MAX_STOP_SEQUENCES = 5

STOP: dict[str, StopReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_encode = msgspec.json.Encoder().encode
_decode_chunk = msgspec.json.Decoder(gw.GenerateResponse).decode


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
        self.sentinel = bool(_NEEDS_SIGNATURE.search(model))

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
    gemini3 = bool(_NEEDS_SIGNATURE.search(model))
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
        if key.startswith("gemini:"):  # settings only Gemini knows (safetySettings, cachedContent)
            body[key[7:]] = value
    return body


# ---------------------------------------------------------------------------------------------- response


def usage_from(u: gw.UsageMetadata | None) -> Usage:
    if u is None:
        return Usage()
    thoughts = u.thoughtsTokenCount or 0
    return Usage(
        input_tokens=(u.promptTokenCount or 0) + (u.toolUsePromptTokenCount or 0),
        output_tokens=(u.candidatesTokenCount or 0) + thoughts,
        cache_read_tokens=u.cachedContentTokenCount or 0,
        reasoning_tokens=thoughts,
    )


def _blocked(data: gw.GenerateResponse) -> GatewayError | None:
    """A prompt Gemini refused outright comes as a 200 without candidates."""
    fb = data.promptFeedback
    if not data.candidates and fb is not None and fb.blockReason:
        return GatewayError("invalid_request", f"the prompt was blocked by Gemini ({fb.blockReason})", status=400)
    return None


class GeminiOptions(msgspec.Struct, forbid_unknown_fields=True):
    api_version: str = "v1beta"


class GeminiProvider(HTTPProvider):
    type: ClassVar[str] = "gemini"
    flushes: ClassVar[bool] = True
    Options = GeminiOptions
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts: GeminiOptions = self.options or GeminiOptions()
        self.options = opts
        # base_url is given without a version; one that already ends in /v1beta or /v1 is taken as is
        self.prefix = "" if re.search(r"/v1(beta|alpha)?$", self.base_url) else "/" + opts.api_version
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            self.headers["x-goog-api-key"] = self.config.api_key
        self.headers.update(self.config.headers)

    def _path(self, model: str, method: str) -> str:
        name = model if model.startswith(("models/", "tunedModels/")) else "models/" + model
        return f"{self.prefix}/{name}:{method}"

    async def chat(self, request: Request, model: str) -> Response:
        body = _encode(encode_request(request, model))
        resp = await self.post(self._path(model, "generateContent"), body, self.headers_for())
        data: gw.GenerateResponse = await self.read_json(resp, gw.GenerateResponse)
        blocked = _blocked(data)
        if blocked is not None:
            raise blocked
        content: list[Part] = []
        finish = None
        if data.candidates:
            cand = data.candidates[0]
            finish = cand.finishReason
            for p in cand.content.parts if cand.content is not None else []:
                if p.functionCall is not None:
                    fc = p.functionCall
                    cid = call_id(fc.id, p.thoughtSignature)
                    content.append(ToolCallPart(id=cid, name=fc.name, arguments=_encode(fc.args or {}).decode()))
                elif p.thought:
                    if p.text:
                        content.append(ThinkingPart(text=p.text))
                elif p.text:
                    content.append(TextPart(text=p.text))
        stop: StopReason = STOP.get(finish or "STOP", "stop")
        if stop == "stop" and any(isinstance(p, ToolCallPart) for p in content):
            stop = "tool_calls"
        return Response(
            id=data.responseId or "",
            model=data.modelVersion or model,
            content=content,
            stop_reason=stop,
            usage=usage_from(data.usageMetadata),
        )

    async def stream(self, request: Request, model: str) -> AsyncIterator[Event]:
        body = _encode(encode_request(request, model))
        path = self._path(model, "streamGenerateContent") + "?alt=sse"
        resp = await self.post(path, body, self.headers_for("text/event-stream"), stream=True)
        try:
            async for event in self._events(resp, model):
                yield event
        finally:
            resp.release()

    async def _events(self, resp: Any, model: str) -> AsyncIterator[Event]:
        started = False
        calls = 0
        finish: str | None = None
        usage: gw.UsageMetadata | None = None
        async for _, data in iter_sse(resp, self.name):
            if not data:
                yield FLUSH
                continue
            try:
                chunk = _decode_chunk(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise GatewayError(
                    "api_error", f"upstream {self.name!r} sent an invalid stream event", status=502
                ) from None
            if chunk.error is not None:
                code = chunk.error.code or 502
                raise GatewayError(kind_for_status(code), chunk.error.message or "upstream error", status=code)
            if not started:
                blocked = _blocked(chunk)
                if blocked is not None:
                    raise blocked
                started = True
                yield Start(id=chunk.responseId or "", model=chunk.modelVersion or model)
            if chunk.usageMetadata is not None:
                usage = chunk.usageMetadata  # each chunk's figures are the running totals
            for cand in chunk.candidates[:1]:
                for p in cand.content.parts if cand.content is not None else []:
                    if p.functionCall is not None:
                        fc = p.functionCall
                        yield ToolCallStart(index=calls, id=call_id(fc.id, p.thoughtSignature), name=fc.name)
                        yield ToolCallDelta(index=calls, arguments=_encode(fc.args or {}).decode())
                        calls += 1
                    elif p.thought:
                        if p.text:
                            yield ThinkingDelta(text=p.text)
                    elif p.text:
                        yield TextDelta(text=p.text)
                if cand.finishReason:
                    finish = cand.finishReason
        if not started:
            raise GatewayError("api_error", f"upstream {self.name!r} closed the stream without data", status=502)
        if finish is None:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} ended the stream early")
        stop: StopReason = STOP.get(finish, "stop")
        if stop == "stop" and calls:
            stop = "tool_calls"
        yield Finish(stop_reason=stop, usage=usage_from(usage))

    async def count_tokens(self, request: Request, model: str) -> int | None:
        inner = encode_request(request, model)
        inner.pop("generationConfig", None)
        inner.pop("safetySettings", None)
        inner["model"] = model if model.startswith("models/") else "models/" + model
        body = _encode({"generateContentRequest": inner})
        resp = await self.post(self._path(model, "countTokens"), body, self.headers_for())
        data: gw.CountResponse = await self.read_json(resp, gw.CountResponse)
        return data.totalTokens

    async def embed(self, request: EmbedRequest, model: str) -> EmbedResponse:
        name = model if model.startswith("models/") else "models/" + model
        requests = []
        for text in request.inputs:
            r: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
            if request.dimensions:
                r["outputDimensionality"] = request.dimensions
            requests.append(r)
        resp = await self.post(
            self._path(model, "batchEmbedContents"), _encode({"requests": requests}), self.headers_for()
        )
        data: gw.BatchEmbedResponse = await self.read_json(resp, gw.BatchEmbedResponse)
        return EmbedResponse(model=model, vectors=[e.values for e in data.embeddings])

    async def list_models(self) -> list[ModelInfo]:
        if self.config.models is not None:
            return await super().list_models()
        raw = await self.get_json(self.prefix + "/models?pageSize=1000", self.headers)
        data = msgspec.convert(raw, gw.ModelList)
        return [
            ModelInfo(id=m.name.removeprefix("models/"), context_length=m.inputTokenLimit)
            for m in data.models
            if {"generateContent", "embedContent"} & set(m.supportedGenerationMethods)
        ]
