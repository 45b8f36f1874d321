"""A fake OpenAI Chat Completions server, as strict as the real one where translation bugs would show:
bad auth, empty `tools`, unpaired tool messages, over-long tool ids, an unknown `reasoning_effort` and a missing
`messages` are all 400/401.

Behaviour is chosen by the model name:
  anything          echo the last user text ("echo: ..."); with tools, call them (see `_tool_calls`)
  fail-400|401|429|500|503   that status with an OpenAI error body (429 carries Retry-After)
  slow              answer after 3 s (the tests give this provider a 1 s timeout)
  drop              stream two chunks, then cut the connection
  error-chunk       stream one chunk, then an in-stream error object
  reasoning         reasoning_content before the text (and the tool calls)
  reasoning-strict  the same, and like DeepSeek's thinking mode a 400 for an assistant message with tool_calls
                    that comes back without its reasoning_content
  ok-200-error      200 with an error body
  script            the Codex CLI script (tool_script.py): run the user's `command`, then quote its output
  gpt-5*, o1*, o3*, o4*   like api.openai.com's reasoning models, a 400 for `max_tokens`
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes import tool_script

API_KEY = "sk-fake-openai-key-123"


def _error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": None}}
    return web.json_response(body, status=status, headers=headers)


# api.openai.com's reasoning models take the output cap only as max_completion_tokens.
REASONING_MODELS = ("gpt-5", "o1", "o3", "o4")


def _unsupported_max_tokens() -> web.Response:
    body = {
        "error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    }
    return web.json_response(body, status=400)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            return " ".join(p.get("text", "") for p in c or [] if p.get("type") == "text")
    return ""


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.cancelled = 0
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_post("/v1/embeddings", self.embeddings)
        self.app.router.add_get("/v1/models", self.models)

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def _validate(self, body: dict[str, Any]) -> web.Response | None:
        if "model" not in body:
            return _error(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "[] is too short - 'messages'", param="messages")
        if "tools" in body and not body["tools"]:
            return _error(400, "[] is too short - 'tools'", param="tools")
        pending: set[str] = set()
        for i, m in enumerate(messages):
            role = m.get("role")
            if role not in ("system", "developer", "user", "assistant", "tool"):
                return _error(400, f"Invalid value: '{role}'", param=f"messages[{i}].role")
            if role == "tool":
                tid = m.get("tool_call_id")
                if tid not in pending:
                    return _error(
                        400,
                        "Invalid parameter: messages with role 'tool' must be a response to a "
                        "preceeding message with 'tool_calls'.",
                        param=f"messages[{i}]",
                    )
                pending.discard(tid)
                continue
            if pending:
                return _error(
                    400,
                    "An assistant message with 'tool_calls' must be followed by tool messages "
                    f"responding to each 'tool_call_id'. Missing: {sorted(pending)}",
                    param="messages",
                )
            if role == "assistant":
                for tc in m.get("tool_calls") or []:
                    if len(tc["id"]) > 40:
                        return _error(400, "string too long", param=f"messages[{i}].tool_calls.id")
                    if not isinstance(tc["function"]["arguments"], str):
                        return _error(400, "arguments must be a string", param=f"messages[{i}].tool_calls")
                    pending.add(tc["id"])
            elif m.get("content") is None:
                return _error(400, "content is required", param=f"messages[{i}].content")
        if pending:
            return _error(400, f"tool_calls without responses: {sorted(pending)}", param="messages")
        if body["model"] == "reasoning-strict":
            for m in messages:
                if m.get("role") == "assistant" and m.get("tool_calls") and not m.get("reasoning_content"):
                    return _error(400, 'The "reasoning_content" in the thinking mode must be passed back to the API.')
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in ("none", "minimal", "low", "medium", "high", "xhigh"):
            return _error(
                400,
                f"Invalid value: '{effort}'. Supported values are: 'none', 'minimal', 'low', "
                "'medium', 'high', and 'xhigh'.",
                param="reasoning_effort",
            )
        if "max_tokens" in body and "max_completion_tokens" in body:
            return _error(400, "max_tokens and max_completion_tokens are mutually exclusive")
        if "max_tokens" in body and body["model"].startswith(REASONING_MODELS):
            return _unsupported_max_tokens()
        if body.get("metadata") and body.get("store") is not True:
            return _error(400, "The 'metadata' parameter is only allowed when 'store' is enabled.", param="metadata")
        return None

    def _plan(self, body: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]], str]:
        messages = body["messages"]
        last = messages[-1]
        if body["model"] == tool_script.SCRIPT_MODEL and (last.get("role") == "tool" or body.get("tools")):
            if last.get("role") == "tool":
                return tool_script.answer(str(last.get("content"))), "", [], "stop"
            name, arguments = tool_script.shell_call_json(
                tool_script.tool_names(body["tools"]), _last_user_text(messages)
            )
            call = {"id": "call_s1", "type": "function", "function": {"name": name, "arguments": arguments}}
            return "", "", [call], "tool_calls"
        text = ""
        reasoning = ""
        calls: list[dict[str, Any]] = []
        if last.get("role") == "tool":
            results = []
            for m in reversed(messages):
                if m.get("role") != "tool":
                    break
                results.insert(0, m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]))
            text = "got: " + " | ".join(results)
        elif body.get("tools") and body.get("tool_choice") != "none":
            user = _last_user_text(messages)
            names = [t["function"]["name"] for t in body["tools"]]
            calls.append(
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": names[0], "arguments": json.dumps({"city": "Paris"})},
                }
            )
            if "parallel" in user and len(names) > 1:
                calls.append(
                    {
                        "id": "call_t2",
                        "type": "function",
                        "function": {"name": names[1], "arguments": json.dumps({"tz": "Europe/Paris"})},
                    }
                )
            if "with text" in user:
                text = "Let me check."
        else:
            text = "echo: " + _last_user_text(messages)
        if body["model"] in ("reasoning", "reasoning-strict"):
            reasoning = "thinking hard"
        finish = "tool_calls" if calls else "stop"
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        if max_tokens and len(text.split()) > max_tokens and not calls:
            text = " ".join(text.split()[:max_tokens])
            finish = "length"
        return text, reasoning, calls, finish

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "We could not parse the JSON body of your request.")
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        model = body.get("model", "")
        if model.startswith("fail-"):
            status = int(model.split("-")[1])
            headers = {"Retry-After": "1"} if status == 429 else None
            type_ = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
            return _error(status, f"upstream says {status}", type_, headers)
        if model == "ok-200-error":
            return web.json_response({"error": {"message": "quota exhausted", "type": "insufficient_quota"}})
        invalid = self._validate(body)
        if invalid is not None:
            return invalid
        if model == "slow":
            await asyncio.sleep(3)
        text, reasoning, calls, finish = self._plan(body)
        usage = {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None, "annotations": []}
            if calls:
                message["tool_calls"] = calls
            if reasoning:
                message["reasoning_content"] = reasoning
            return web.json_response(
                {
                    "id": "chatcmpl-fake123",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model + "-2025",
                    "system_fingerprint": "fp_fake",
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        return await self._stream(request, body, text, reasoning, calls, finish, usage)

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        text: str,
        reasoning: str,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, Any],
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        model = body["model"]
        base = {
            "id": "chatcmpl-fake123",
            "object": "chat.completion.chunk",
            "created": 1735689600,
            "model": model + "-2025",
            "system_fingerprint": "fp_fake",
        }
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {**base, "choices": choices, **extra}
            if include_usage and "usage" not in extra:
                chunk["usage"] = None
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        def delta(d: dict[str, Any], fin: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": fin}]

        try:
            await send(delta({"role": "assistant", "content": "", "refusal": None}))
            if reasoning:
                await send(delta({"reasoning_content": reasoning}))
            if model == "error-chunk":
                await send(delta({"content": "partial"}))
                await resp.write(
                    b'data: {"error": {"message": "model crashed", "type": "server_error", '
                    b'"param": null, "code": null}}\n\n'
                )
                return resp
            pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
            for n, piece in enumerate(pieces):
                await send(delta({"content": piece}))
                if model == "drop" and n == 1:
                    await asyncio.sleep(0.05)
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                if model == "slow-stream":
                    await asyncio.sleep(0.2)
            for i, call in enumerate(calls):
                args = call["function"]["arguments"]
                await send(
                    delta(
                        {
                            "tool_calls": [
                                {
                                    "index": i,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        }
                    )
                )
                for j in range(0, len(args), 5):
                    await send(delta({"tool_calls": [{"index": i, "function": {"arguments": args[j : j + 5]}}]}))
            await send(delta({}, finish))
            if include_usage:
                await send([], usage=usage)
            await resp.write(b"data: [DONE]\n\n")
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise
        return resp

    async def embeddings(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.")
        body = await request.json()
        self.requests.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if body.get("encoding_format") not in (None, "float"):
            return _error(400, "this fake only serves float")
        data = [
            {"object": "embedding", "index": i, "embedding": [0.5, -0.25, float(len(s)), 1.0]}
            for i, s in enumerate(inputs)
        ]
        return web.json_response(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 5, "total_tokens": 5}}
        )

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": "gpt-test", "object": "model", "created": 1700000000, "owned_by": "fake"},
                    {"id": "gpt-other", "object": "model", "created": 1700000001, "owned_by": "fake"},
                ],
            }
        )
