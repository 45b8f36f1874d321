"""A fake Anthropic Messages server, as strict as the real one where translation bugs would show: a missing
key, version or `max_tokens`, unknown top-level fields, a `system` message in `messages` anywhere but right
after a user turn (or with beta fields or blocks without their `anthropic-beta`), a first turn that is not the
user's, same-role turns in a row, empty text blocks, unpaired tool_use / tool_result, tool_result
blocks after text, bad tool ids, `temperature` with `top_p`, a prefill ending in whitespace — all 400/401.

Behaviour is chosen by the model name:
  anything          echo the last user text ("echo: ..."; "+N image(s)" when images came); with tools, call
                    them ("parallel" in the text: two calls; "with text": text before the call); with tool
                    results in the last turn, "got: r1 | r2"
  thinking          a signed thinking block first (also whenever `thinking` is enabled); as the real API,
                    a replayed block whose text was changed is refused, and with thinking on the
                    assistant turn before tool results must start with a thinking block
  fail-400|401|429|500|529   that status with an Anthropic error body (429 carries retry-after)
  error-event       stream one text delta, then an `error` event (overloaded_error)
  drop              stream two text deltas, then cut the connection
  stop-seq          stop_reason stop_sequence (the first requested stop sequence)
  length            stop_reason max_tokens
  script            the Codex CLI script (tool_script.py): run the user's `command`, then quote its output
Every answer reports usage input 20, output 9, cache creation 5, cache read 10.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from tests.fakes import tool_script

API_KEY = "sk-ant-fake-key-456"
USAGE = {"input_tokens": 20, "output_tokens": 9, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 10}
SIGNATURE = "EqQBsig-fake"
THINKING = "thinking hard"  # the text SIGNATURE signs: a replay that changes it is refused
_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_MESSAGE_KEYS = {
    "model",
    "max_tokens",
    "messages",
    "system",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "output_config",
    "cache_control",
    "container",
    "context_management",
    "mcp_servers",
    "inference_geo",
}
_COUNT_KEYS = {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control"}
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


class Invalid(Exception):
    def __init__(self, message: str, status: int = 400, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type_


def _error(status: int, message: str, type_: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_fake"},
        status=status,
        headers=headers,
    )


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise Invalid(f"{where}: Input should be a valid list")
    return content


def _check_text(block: dict[str, Any], where: str) -> None:
    if not isinstance(block.get("text"), str):
        raise Invalid(f"{where}.text: Field required")
    if not block["text"]:
        raise Invalid(f"{where}: text content blocks must be non-empty")


def _check_image(block: dict[str, Any], where: str) -> None:
    src = block.get("source") or {}
    if src.get("type") == "base64":
        if src.get("media_type") not in _IMAGE_TYPES:
            raise Invalid(
                f"{where}.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
            )
        if not src.get("data") or str(src["data"]).startswith("data:"):
            raise Invalid(f"{where}.source.data: invalid base64 data")
    elif src.get("type") == "url":
        if not str(src.get("url", "")).startswith(("http://", "https://")):
            raise Invalid(f"{where}.source.url: invalid URL")
    else:
        raise Invalid(f"{where}.source: Input tag '{src.get('type')}' is not supported")


# Mid-conversation system messages: GA with text content right after a user turn; these betas add fields.
TOOL_CHANGES_BETA = "mid-conversation-tool-changes-2026-07-01"
_SYSTEM_FIELD_BETAS = {
    "output_config": "mid-conversation-output-config-2026-07-01",
    "clear_at": "mid-conversation-system-clear-at-2026-08-21",
}


def _without_system(messages: list[Any], betas: frozenset[str]) -> list[Any]:
    """The `role: "system"` messages checked as the real API does, then left out of the turn checks."""
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") != "system":
            out.append(m)
            continue
        where = f"messages.{i}"
        if i == 0 or messages[i - 1].get("role") != "user":
            raise Invalid(f"{where}: a system message must immediately follow a user message")
        for key in m:
            if key not in ("role", "content") and _SYSTEM_FIELD_BETAS.get(key) not in betas:
                raise Invalid(f"{where}.{key}: Extra inputs are not permitted")
        if m.get("content") is None:
            if "output_config" not in m:
                raise Invalid(f"{where}.content: Field required")
            continue
        for j, b in enumerate(_blocks(m["content"], f"{where}.content")):
            at = f"{where}.content.{j}"
            t = b.get("type")
            if t == "text":
                _check_text(b, at)
            elif t not in ("tool_addition", "tool_removal") or TOOL_CHANGES_BETA not in betas:
                raise Invalid(f"{at}: Input tag '{t}' found using 'type' does not match any of the expected tags")
    return out


def validate_messages(messages: Any, thinking_on: bool, betas: frozenset[str] = frozenset()) -> None:
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: Field required" if messages is None else "messages: at least one message is required")
    messages = _without_system(messages, betas)
    for i, m in enumerate(messages):
        where = f"messages.{i}"
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise Invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise Invalid('messages: first message must use the "user" role')
        if i and messages[i - 1].get("role") == role:
            raise Invalid(f'messages: roles must alternate between "user" and "assistant" (at {where})')
        blocks = _blocks(m.get("content"), f"{where}.content")
        last = i == len(messages) - 1
        if not blocks and not (last and role == "assistant"):
            raise Invalid(
                f"{where}: all messages must have non-empty content except for the optional final assistant message"
            )
        seen_other = False
        for j, b in enumerate(blocks):
            at = f"{where}.content.{j}"
            t = b.get("type")
            if t == "text":
                _check_text(b, at)
                seen_other = True
            elif t == "image":
                if role != "user":
                    raise Invalid(f"{at}: images are only allowed in user messages")
                _check_image(b, at)
                seen_other = True
            elif t == "document":
                src = b.get("source") or {}
                if src.get("type") not in ("base64", "text", "url", "content"):
                    raise Invalid(f"{at}.source: invalid document source")
                seen_other = True
            elif t == "tool_use":
                if role != "assistant":
                    raise Invalid(f"{at}: tool_use blocks are only allowed in assistant messages")
                if not _ID.match(str(b.get("id", ""))):
                    raise Invalid(f"{at}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
                if not isinstance(b.get("input"), dict):
                    raise Invalid(f"{at}.input: Input should be a valid dictionary")
            elif t == "tool_result":
                if role != "user":
                    raise Invalid(f"{at}: tool_result blocks are only allowed in user messages")
                if seen_other:
                    raise Invalid(f"{where}: tool_result blocks must come first in the user message")
                c = b.get("content")
                if isinstance(c, list):
                    for k, cb in enumerate(c):
                        if cb.get("type") == "text":
                            _check_text(cb, f"{at}.content.{k}")
                        elif cb.get("type") == "image":
                            _check_image(cb, f"{at}.content.{k}")
                        else:
                            raise Invalid(f"{at}.content.{k}: invalid block type")
            elif t == "thinking":
                if role != "assistant" or not b.get("signature"):
                    raise Invalid(f"{at}.signature: Field required")
                if b["signature"] == SIGNATURE and b.get("thinking") != THINKING:
                    raise Invalid(f"{at}: Invalid `signature` in `thinking` block")  # altered thinking
            elif t == "redacted_thinking":
                pass
            else:
                raise Invalid(f"{at}: Input tag '{t}' found using 'type' does not match any of the expected tags")
        if last and role == "assistant" and blocks and blocks[-1].get("type") == "text":
            if blocks[-1]["text"] != blocks[-1]["text"].rstrip():
                raise Invalid("final assistant content cannot end with trailing whitespace")
    # tool_use / tool_result pairing
    for i, m in enumerate(messages):
        blocks = _blocks(m["content"], "")
        if m["role"] == "assistant":
            ids = [b["id"] for b in blocks if b.get("type") == "tool_use"]
            if ids:
                nxt = _blocks(messages[i + 1]["content"], "") if i + 1 < len(messages) else []
                got = {b.get("tool_use_id") for b in nxt if b.get("type") == "tool_result"}
                missing = [x for x in ids if x not in got]
                if missing:
                    raise Invalid(
                        f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                        f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                        "corresponding `tool_result` block in the next message."
                    )
        else:
            prev = _blocks(messages[i - 1]["content"], "") if i else []
            ids = {b.get("id") for b in prev if b.get("type") == "tool_use"}
            for j, b in enumerate(blocks):
                if b.get("type") == "tool_result" and b.get("tool_use_id") not in ids:
                    raise Invalid(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {b.get('tool_use_id')}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
    if thinking_on and len(messages) >= 2 and messages[-2]["role"] == "assistant":
        final = _blocks(messages[-2]["content"], "")
        answers = any(b.get("type") == "tool_result" for b in _blocks(messages[-1]["content"], ""))
        if answers and final and final[0].get("type") not in ("thinking", "redacted_thinking"):
            raise Invalid(
                f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{final[0].get('type')}`. When `thinking` is enabled, a final `assistant` message must "
                "start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
                "blocks). We recommend you include thinking blocks from previous turns. To avoid this "
                "requirement, disable `thinking`."
            )


def validate_common(body: dict[str, Any], allowed: set[str], betas: frozenset[str] = frozenset()) -> bool:
    for key in body:
        if key not in allowed:
            raise Invalid(f"{key}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str):
        raise Invalid("model: Field required")
    system = body.get("system")
    if system is not None:
        if isinstance(system, list):
            for j, b in enumerate(system):
                if b.get("type") != "text":
                    raise Invalid(f"system.{j}.type: Input should be 'text'")
                _check_text(b, f"system.{j}")
        elif not isinstance(system, str):
            raise Invalid("system: Input should be a valid string")
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        for j, t in enumerate(tools):
            if t.get("type") not in (None, "custom"):  # a server tool (web_search_20250305 ...): no schema
                if not re.fullmatch(r"[a-z_]+_\d{8}", str(t["type"])):
                    raise Invalid(f"tools.{j}.type: Input tag {t['type']!r} does not match any of the expected tags")
                continue
            if not _NAME.match(str(t.get("name", ""))):
                raise Invalid(f"tools.{j}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            schema = t.get("input_schema")
            if not isinstance(schema, dict):
                raise Invalid(f"tools.{j}.input_schema: Field required")
            if schema.get("type") != "object":
                raise Invalid(f"tools.{j}.input_schema.type: Input should be 'object'")
            names.add(t["name"])
    tc = body.get("tool_choice")
    thinking = body.get("thinking") or {}
    thinking_on = thinking.get("type") in ("enabled", "adaptive")
    if tc is not None:
        if tc.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice.type: invalid")
        if tc["type"] == "tool" and tc.get("name") not in names:
            raise Invalid(f"tool_choice.name: tool {tc.get('name')!r} not found in tools")
        if thinking_on and tc["type"] in ("any", "tool"):
            raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")
    validate_messages(body.get("messages"), thinking_on, betas)
    return thinking_on


def validate_create(body: dict[str, Any], betas: frozenset[str] = frozenset()) -> bool:
    thinking_on = validate_common(body, _MESSAGE_KEYS, betas)
    mt = body.get("max_tokens")
    if mt is None:
        raise Invalid("max_tokens: Field required")
    if not isinstance(mt, int) or mt < 1:
        raise Invalid("max_tokens: Input should be greater than or equal to 1")
    if "temperature" in body and "top_p" in body:
        raise Invalid("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
    t = body.get("temperature")
    if t is not None and not 0 <= t <= 1:
        raise Invalid("temperature: Input should be less than or equal to 1")
    thinking = body.get("thinking")
    if thinking is not None and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= mt:
            raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    if thinking_on:
        if t is not None and t != 1:
            raise Invalid("`temperature` may only be set to 1 when thinking is enabled.")
        if "top_k" in body:
            raise Invalid("`top_k` cannot be set when thinking is enabled.")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise Invalid("stop_sequences: Input should be a valid list of strings")
    meta = body.get("metadata")
    if meta is not None and set(meta) - {"user_id"}:
        raise Invalid("metadata: Extra inputs are not permitted")
    return thinking_on


def _betas(request: web.Request) -> frozenset[str]:
    return frozenset(b.strip() for b in request.headers.get("anthropic-beta", "").split(",") if b.strip())


def _last_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for m in reversed(messages):
        if m["role"] == "user":
            return _blocks(m["content"], "")
    return []


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.count_requests: list[dict[str, Any]] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1/messages", self.messages)
        self.app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        self.app.router.add_get("/v1/models", self.models)

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("x-api-key") != API_KEY:
            return _error(401, "invalid x-api-key", "authentication_error")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required", "invalid_request_error")
        return None

    @staticmethod
    def count_for(body: dict[str, Any]) -> int:
        """What count_tokens answers: deterministic, so tests can predict it."""
        text = json.dumps([body.get("system"), body["messages"], body.get("tools")], sort_keys=True)
        return 3 + len(text) // 7

    async def count_tokens(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied is not None:
            return denied
        body = await request.json()
        self.count_requests.append(body)
        try:
            validate_common(body, _COUNT_KEYS, _betas(request))
        except Invalid as err:
            return _error(err.status, err.message, err.type)
        return web.json_response({"input_tokens": self.count_for(body)})

    async def models(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied is not None:
            return denied
        data = [
            {"type": "model", "id": "claude-test", "display_name": "Claude Test", "created_at": "2025-09-29T00:00:00Z"},
            {
                "type": "model",
                "id": "claude-other",
                "display_name": "Claude Other",
                "created_at": "2025-10-01T00:00:00Z",
            },
        ]
        return web.json_response(
            {"data": data, "has_more": False, "first_id": "claude-test", "last_id": "claude-other"}
        )

    def _plan(self, body: dict[str, Any], thinking_on: bool) -> tuple[str, list[dict[str, Any]], str, str | None]:
        """(thinking, content blocks, stop_reason, stop_sequence)."""
        model = body["model"]
        last = _last_user(body["messages"])
        results = [b for b in last if b.get("type") == "tool_result"]
        texts = [b["text"] for b in last if b.get("type") == "text"]
        images = sum(b.get("type") == "image" for b in last)
        user = " ".join(texts)
        blocks: list[dict[str, Any]] = []
        tc = body.get("tool_choice") or {}
        if model == tool_script.SCRIPT_MODEL and (results or body.get("tools")):
            if results:
                c = results[-1].get("content")
                out = (
                    c if isinstance(c, str) else " ".join(x.get("text", "") for x in c or [] if x.get("type") == "text")
                )
                answer = [{"type": "text", "text": tool_script.answer(out)}]
                return (THINKING if thinking_on else ""), answer, "end_turn", None
            name, args = tool_script.shell_call(tool_script.tool_names(body["tools"]), user)
            call = [{"type": "tool_use", "id": "toolu_s1", "name": name, "input": args}]
            return (THINKING if thinking_on else ""), call, "tool_use", None
        if results:
            got = []
            for r in results:
                c = r.get("content")
                text = (
                    c if isinstance(c, str) else " ".join(x.get("text", "") for x in c or [] if x.get("type") == "text")
                )
                got.append(("ERROR " if r.get("is_error") else "") + text)
            blocks.append({"type": "text", "text": "got: " + " | ".join(got)})
        elif body.get("tools") and tc.get("type") != "none":
            names = [t["name"] for t in body["tools"] if t.get("type") in (None, "custom")]
            if tc.get("type") == "tool":
                names = [tc["name"]] + [n for n in names if n != tc["name"]]
            if "with text" in user:
                blocks.append({"type": "text", "text": "Let me check."})
            blocks.append({"type": "tool_use", "id": "toolu_w1", "name": names[0], "input": {"city": "Paris"}})
            if "parallel" in user and len(names) > 1 and not tc.get("disable_parallel_tool_use"):
                blocks.append({"type": "tool_use", "id": "toolu_t2", "name": names[1], "input": {"tz": "Europe/Paris"}})
        else:
            text = "echo: " + user
            if images:
                text += f" +{images} image(s)"
            blocks.append({"type": "text", "text": text})
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        stop_sequence = None
        if model == "stop-seq" and body.get("stop_sequences"):
            stop, stop_sequence = "stop_sequence", body["stop_sequences"][0]
        elif model == "length":
            stop = "max_tokens"
        thinking = THINKING if (model == "thinking" or thinking_on) else ""
        return thinking, blocks, stop, stop_sequence

    async def messages(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth(request)
        if denied is not None:
            return denied
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "There was an error parsing the body of your request", "invalid_request_error")
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        model = body.get("model", "")
        if model.startswith("fail-"):
            status = int(model.split("-")[1])
            type_ = {
                400: "invalid_request_error",
                401: "authentication_error",
                429: "rate_limit_error",
                529: "overloaded_error",
            }.get(status, "api_error")
            return _error(status, f"upstream says {status}", type_, {"retry-after": "1"} if status == 429 else None)
        try:
            thinking_on = validate_create(body, _betas(request))
        except Invalid as err:
            return _error(err.status, err.message, err.type)
        thinking, blocks, stop, stop_sequence = self._plan(body, thinking_on)
        if thinking:
            blocks.insert(0, {"type": "thinking", "thinking": thinking, "signature": SIGNATURE})
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "msg_fake01",
                    "type": "message",
                    "role": "assistant",
                    "model": model + "-20250101",
                    "content": blocks,
                    "stop_reason": stop,
                    "stop_sequence": stop_sequence,
                    "usage": {
                        **USAGE,
                        "cache_creation": {"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 0},
                        "service_tier": "standard",
                    },
                }
            )
        return await self._stream(request, model, blocks, stop, stop_sequence)

    async def _stream(
        self, request: web.Request, model: str, blocks: list[dict[str, Any]], stop: str, stop_sequence: str | None
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "request-id": "req_fake"})
        await resp.prepare(request)

        async def send(data: dict[str, Any]) -> None:
            await resp.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        start_usage = {**USAGE, "output_tokens": 1}
        await send(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake01",
                    "type": "message",
                    "role": "assistant",
                    "model": model + "-20250101",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            }
        )
        await send({"type": "ping"})
        sent = 0
        for i, b in enumerate(blocks):
            t = b["type"]
            if t == "text":
                await send({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})
                text = b["text"]
                for j in range(0, len(text), 4):
                    await send(
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "text_delta", "text": text[j : j + 4]},
                        }
                    )
                    sent += 1
                    if model == "error-event":
                        await send({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                        return resp
                    if model == "drop" and sent == 2:
                        await asyncio.sleep(0.05)
                        assert request.transport is not None
                        request.transport.close()
                        return resp
            elif t == "thinking":
                await send(
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    }
                )
                await send(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "thinking_delta", "thinking": b["thinking"]},
                    }
                )
                await send(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "signature_delta", "signature": b["signature"]},
                    }
                )
            else:
                await send(
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}},
                    }
                )
                args = json.dumps(b["input"])
                await send(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": ""},
                    }
                )
                for j in range(0, len(args), 5):
                    await send(
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": args[j : j + 5]},
                        }
                    )
            await send({"type": "content_block_stop", "index": i})
        await send(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": stop_sequence},
                "usage": {"output_tokens": USAGE["output_tokens"]},
            }
        )
        await send({"type": "message_stop"})
        return resp
