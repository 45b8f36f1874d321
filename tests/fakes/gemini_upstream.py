"""A fake Generative Language API (v1beta), as strict as Google's where translation bugs would show: a
wrong or missing `x-goog-api-key`, unknown fields at any level (Google's proto parser: "Unknown name ...
Cannot find field"), roles other than user/model, empty parts, a functionResponse without a name or
not answering the calls of the turn before, function-call counts that do not match, `parameters` and
`parametersJsonSchema` together, more than 5 stop sequences, invalid base64 — all 400/403. Gemini 3
models (`gemini-3*`) also refuse a function call sent back without the `thoughtSignature` they gave it
(or Google's skip sentinel), as the real ones do.

Like Google's parser it accepts every field under its camelCase and its snake_case name.

Behaviour by model name:
  anything          echo the last user text ("echo: ..."; " +N image(s)" when images came); with tools,
                    call the first one with {"city": "Paris"} ("parallel" in the text: two calls); with
                    function responses in the last turn, "got: r1 | r2"
  gemini-3*         as above, and every function call carries a thought signature
  fail-400|403|429|500|503   that status with Google's error body
  error-event       stream one chunk, then an error object
  script            the scripted agent turn of tests/fakes/tool_script.py (gemini-cli end-to-end test)
Usage: prompt 12, candidates 5, thoughts 2 (total 19). Streams send text in 4-character chunks.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aiohttp import web

from tests.fakes import tool_script

API_KEY = "gemini-fake-key-789"
SIGNATURE = "+/+/IGZha2Utc2lnIQ=="  # standard base64 with + and / and padding, as Google sends bytes
SKIP_SIGNATURE = "skip_thought_signature_validator"
USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 5, "thoughtsTokenCount": 2, "totalTokenCount": 19}
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}
_STATUS |= {500: "INTERNAL", 503: "UNAVAILABLE"}

ANY = "any"  # a free-form value (google.protobuf.Struct / Value)
# message -> {field (camelCase): submessage name, ANY, or None for a scalar / list of scalars}
MESSAGES: dict[str, dict[str, Any]] = {
    "GenerateContentRequest": {
        "model": None,
        "contents": "Content",
        "systemInstruction": "Content",
        "tools": "Tool",
        "toolConfig": "ToolConfig",
        "safetySettings": "SafetySetting",
        "generationConfig": "GenerationConfig",
        "cachedContent": None,
    },
    "Content": {"role": None, "parts": "Part"},
    "Part": {
        "text": None,
        "thought": None,
        "thoughtSignature": None,
        "inlineData": "Blob",
        "fileData": "FileData",
        "functionCall": "FunctionCall",
        "functionResponse": "FunctionResponse",
        "executableCode": ANY,
        "codeExecutionResult": ANY,
        "videoMetadata": ANY,
        "mediaResolution": ANY,
    },
    "Blob": {"mimeType": None, "data": None},
    "FileData": {"mimeType": None, "fileUri": None},
    "FunctionCall": {"id": None, "name": None, "args": ANY},
    "FunctionResponse": {"id": None, "name": None, "response": ANY, "parts": ANY, "willContinue": None},
    "Tool": {
        "functionDeclarations": "FunctionDeclaration",
        "googleSearch": ANY,
        "codeExecution": ANY,
        "urlContext": ANY,
        "googleSearchRetrieval": ANY,
    },
    "FunctionDeclaration": {
        "name": None,
        "description": None,
        "parameters": ANY,
        "parametersJsonSchema": ANY,
        "response": ANY,
        "responseJsonSchema": ANY,
        "behavior": None,
    },
    "ToolConfig": {"functionCallingConfig": "FunctionCallingConfig", "retrievalConfig": ANY},
    "FunctionCallingConfig": {"mode": None, "allowedFunctionNames": None},
    "SafetySetting": {"category": None, "threshold": None, "method": None},
    "GenerationConfig": {
        "stopSequences": None,
        "responseMimeType": None,
        "responseSchema": ANY,
        "responseJsonSchema": ANY,
        "responseModalities": None,
        "candidateCount": None,
        "maxOutputTokens": None,
        "temperature": None,
        "topP": None,
        "topK": None,
        "seed": None,
        "presencePenalty": None,
        "frequencyPenalty": None,
        "responseLogprobs": None,
        "logprobs": None,
        "thinkingConfig": "ThinkingConfig",
        "mediaResolution": None,
    },
    "ThinkingConfig": {"includeThoughts": None, "thinkingBudget": None, "thinkingLevel": None},
    "CountTokensRequest": {"contents": "Content", "generateContentRequest": "GenerateContentRequest"},
    "EmbedContentRequest": {
        "model": None,
        "content": "Content",
        "taskType": None,
        "title": None,
        "outputDimensionality": None,
    },
    "BatchEmbedContentsRequest": {"requests": "EmbedContentRequest"},
}


class Invalid(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def normalize(value: Any, message: str, where: str) -> Any:
    """Check `value` against `message` (unknown fields are a 400, as Google's parser answers) and give it
    back with every field name in camelCase."""
    if isinstance(value, list):
        return [normalize(v, message, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise Invalid(f"Invalid value at '{where}' ({message}), {json.dumps(value)[:40]}")
    fields = MESSAGES[message]
    out: dict[str, Any] = {}
    for key, sub in value.items():
        name = _camel(key)
        if name not in fields:
            raise Invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where or message}': Cannot find field."
            )
        kind = fields[name]
        at = f"{where}.{key}" if where else key
        out[name] = normalize(sub, kind, at) if isinstance(kind, str) and kind != ANY else sub
    return out


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "status": _STATUS.get(status, "INVALID_ARGUMENT")}},
        status=status,
    )


def _check_base64(data: Any, where: str) -> None:
    try:
        base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(
            f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed for \"{str(data)[:20]}\""
        ) from None


def validate_contents(contents: list[dict[str, Any]], gemini3: bool, issued: set[str]) -> None:
    if not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    for i, c in enumerate(contents):
        role = c.get("role", "user")
        if role not in ("user", "model"):
            raise Invalid("Please use a valid role: user, model.")
        parts = c.get("parts") or []
        if not parts:
            raise Invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        for j, p in enumerate(parts):
            where = f"contents[{i}].parts[{j}]"
            if "inlineData" in p:
                if not p["inlineData"].get("mimeType"):
                    raise Invalid(f"* GenerateContentRequest.{where}.inline_data.mime_type: mime_type is required")
                _check_base64(p["inlineData"].get("data", ""), f"{where}.inline_data.data")
            if "functionCall" in p and role != "model":
                raise Invalid("Please ensure that function call turns come from the model.")
            if "functionResponse" in p and not p["functionResponse"].get("name"):
                raise Invalid(f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty.")
        calls = [p["functionCall"] for p in parts if "functionCall" in p]
        if calls:
            if gemini3 and parts:
                first = next(p for p in parts if "functionCall" in p)
                sig = first.get("thoughtSignature")
                if sig is None:
                    raise Invalid(
                        f"Function call `{calls[0].get('name')}` in the `{i}.` content block is missing a "
                        "`thought_signature`. Learn more: https://ai.google.dev/gemini-api/docs/thought-signatures"
                    )
                if sig != SKIP_SIGNATURE and sig not in issued:
                    raise Invalid("Corrupted thought signature.")
            nxt = contents[i + 1] if i + 1 < len(contents) else None
            if nxt is None:
                continue
            answers = [p["functionResponse"] for p in nxt.get("parts", []) if "functionResponse" in p]
            if len(answers) != len(calls):
                raise Invalid(
                    "Please ensure that the number of function response parts is equal to the number of "
                    "function call parts of the function call turn."
                )
            for a in answers:
                if a["name"] not in {c.get("name") for c in calls}:
                    raise Invalid(f"function response name {a['name']!r} does not match any call of the turn before")
        elif any("functionResponse" in p for p in parts):
            prev = contents[i - 1] if i else {}
            if not any("functionCall" in p for p in prev.get("parts", [])):
                raise Invalid("Please ensure that function response turn comes immediately after a function call turn.")


def validate_generate(body: dict[str, Any], model: str, issued: set[str]) -> None:
    validate_contents(body.get("contents") or [], model.startswith("gemini-3"), issued)
    si = body.get("systemInstruction")
    if si is not None and not si.get("parts"):
        raise Invalid("* GenerateContentRequest.system_instruction.parts: must not be empty")
    for t in body.get("tools") or []:
        for k, fd in enumerate(t.get("functionDeclarations") or []):
            if not _NAME.match(str(fd.get("name", ""))):
                raise Invalid(
                    f"* GenerateContentRequest.tools[0].function_declarations[{k}].name: Invalid function name."
                )
            if "parameters" in fd and "parametersJsonSchema" in fd:
                raise Invalid("parameters and parameters_json_schema cannot both be set")
    gc = body.get("generationConfig") or {}
    if len(gc.get("stopSequences") or []) > 5:
        raise Invalid("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences")
    t = gc.get("temperature")
    if t is not None and not 0 <= t <= 2:
        raise Invalid("* GenerateContentRequest.generation_config.temperature: must be in [0.0, 2.0]")
    if gc.get("candidateCount", 1) != 1:
        raise Invalid("Multiple candidates is not enabled for this model")
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode is not None and mode not in ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"):
        raise Invalid(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")


def _last_user(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for c in reversed(contents):
        if c.get("role", "user") == "user":
            return c["parts"]
    return []


class FakeGemini:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # generateContent bodies, camelCased
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.count_requests: list[dict[str, Any]] = []
        self.embed_requests: list[dict[str, Any]] = []
        self.issued: set[str] = {SIGNATURE}
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1beta/models/{call}", self.call)
        self.app.router.add_get("/v1beta/models", self.models)

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def _auth(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return _error(403, "Method doesn't allow unregistered callers. Please use an API Key.")
        if key != API_KEY:
            return _error(400, "API key not valid. Please pass a valid API key.")
        return None

    async def models(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied is not None:
            return denied
        gen = ["generateContent", "countTokens"]
        return web.json_response(
            {
                "models": [
                    {"name": "models/gemini-test", "inputTokenLimit": 1048576, "supportedGenerationMethods": gen},
                    {"name": "models/embedding-test", "supportedGenerationMethods": ["embedContent"]},
                    {"name": "models/aqa", "supportedGenerationMethods": ["generateAnswer"]},
                ]
            }
        )

    async def call(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth(request)
        if denied is not None:
            return denied
        model, _, method = request.match_info["call"].rpartition(":")
        try:
            raw = await request.json()
        except json.JSONDecodeError:
            return _error(400, "Invalid JSON payload received.")
        self.paths.append(request.path_qs)
        self.headers.append(dict(request.headers))
        try:
            if method in ("generateContent", "streamGenerateContent"):
                if method == "streamGenerateContent" and request.query.get("alt") != "sse":
                    raise Invalid("this fake streams only with alt=sse")
                body = normalize(raw, "GenerateContentRequest", "")
                self.requests.append(body)
                if model.startswith("fail-"):
                    status = int(model.split("-")[1])
                    return _error(status, f"upstream says {status}")
                validate_generate(body, model, self.issued)
                return await self._answer(request, body, model, method == "streamGenerateContent")
            if method == "countTokens":
                body = normalize(raw, "CountTokensRequest", "")
                self.count_requests.append(body)
                inner = body.get("generateContentRequest")
                if inner is not None:
                    if inner.get("model") != f"models/{model}":
                        raise Invalid("generate_content_request.model: must name the model in the URL")
                    validate_generate(inner, model, self.issued)
                contents = (inner or body).get("contents") or []
                validate_contents(contents, False, self.issued)
                return web.json_response({"totalTokens": 3 + len(json.dumps(inner or body, sort_keys=True)) // 7})
            if method == "batchEmbedContents":
                body = normalize(raw, "BatchEmbedContentsRequest", "")
                self.embed_requests.append(body)
                vectors = []
                if len(body.get("requests") or []) > 100:
                    raise Invalid("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
                for i, r in enumerate(body.get("requests") or []):
                    if r.get("model") != f"models/{model}":
                        raise Invalid(f"requests[{i}].model: must be models/{model}")
                    text = " ".join(p.get("text", "") for p in r["content"]["parts"])
                    dims = r.get("outputDimensionality") or 4
                    vectors.append({"values": [round(len(text) / (k + 1), 3) for k in range(dims)]})
                return web.json_response({"embeddings": vectors})
        except Invalid as err:
            return _error(err.status, err.message)
        return _error(404, f"Method {method} not found")

    def _parts(self, body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        last = _last_user(body["contents"])
        answers = [p["functionResponse"] for p in last if "functionResponse" in p]
        decls = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
        if model == tool_script.SCRIPT_MODEL and (answers or decls):
            if answers:
                return [{"text": tool_script.answer(json.dumps(answers[-1].get("response")))}]
            user = " ".join(p["text"] for p in last if "text" in p)
            name, args = tool_script.shell_call([d["name"] for d in decls], user)
            return [{"functionCall": {"id": "fc_script", "name": name, "args": args}}]
        if answers:
            got = [str((a.get("response") or {}).get("output", a.get("response"))) for a in answers]
            return [{"text": "got: " + " | ".join(got)}]
        user = " ".join(p["text"] for p in last if "text" in p)
        fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if decls and fcc.get("mode") != "NONE":
            names = [d["name"] for d in decls]
            allowed = fcc.get("allowedFunctionNames")
            if allowed:
                names = [n for n in names if n in allowed]
            parts: list[dict[str, Any]] = [
                {"functionCall": {"id": "fc_w1", "name": names[0], "args": {"city": "Paris"}}}
            ]
            if "parallel" in user and len(names) > 1:
                parts.append({"functionCall": {"id": "fc_t2", "name": names[1], "args": {"tz": "Europe/Paris"}}})
            if model.startswith("gemini-3"):
                parts[0]["thoughtSignature"] = SIGNATURE
            return parts
        images = sum("inlineData" in p or "fileData" in p for p in last)
        return [{"text": "echo: " + user + (f" +{images} image(s)" if images else "")}]

    async def _answer(self, request: web.Request, body: dict[str, Any], model: str, stream: bool) -> web.StreamResponse:
        parts = self._parts(body, model)
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        if thinking.get("includeThoughts"):
            parts.insert(0, {"text": "thinking hard", "thought": True})
        head = {"modelVersion": model + "-001", "responseId": "resp-fake-1"}
        if not stream:
            return web.json_response(
                {
                    "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": USAGE,
                    **head,
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(data: dict[str, Any]) -> None:
            await resp.write(b"data: " + json.dumps(data).encode() + b"\r\n\r\n")

        pieces: list[dict[str, Any]] = []
        for p in parts:
            if "text" in p and not p.get("thought"):
                pieces += [{"text": p["text"][k : k + 4]} for k in range(0, len(p["text"]), 4)]
            else:
                pieces.append(p)
        running = {"promptTokenCount": 12, "totalTokenCount": 12}
        for k, piece in enumerate(pieces):
            cand: dict[str, Any] = {"content": {"role": "model", "parts": [piece]}, "index": 0}
            last = k == len(pieces) - 1
            if last:
                cand["finishReason"] = "STOP"
            await send({"candidates": [cand], "usageMetadata": USAGE if last else running, **head})
            if model == "error-event":
                await send({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
                return resp
        return resp
