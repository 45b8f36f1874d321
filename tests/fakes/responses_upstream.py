"""A fake OpenAI Responses API (`POST /v1/responses`, JSON or SSE), strict where translation bugs would show
(see responses_rules.py), streaming the real event sequence: response.created, response.in_progress, per
item output_item.added … output_item.done with the content_part / output_text, function_call_arguments and
reasoning_summary families between, then response.completed (or .incomplete / .failed); every event has
`type` and `sequence_number`, no [DONE]. Requests, headers and paths are recorded.

Behaviour is chosen by the model name:
  anything        echo the last user text ("echo: ..."); with tools, call the first one with {"city": "Paris"}
                  (a custom tool gets the input "Paris"); after tool outputs: "got: o1 | o2"
  script          the Codex CLI script (tool_script.py): run the user's `command`, then quote its output
  reasoning       a reasoning item first (summary "thinking hard"; encrypted_content when `include` asks)
  length          status incomplete, incomplete_details.reason max_output_tokens
  fail-NNN        that HTTP status with an OpenAI error body (429 carries Retry-After)
  fail-stream     streams created / in_progress, then response.failed (server_error)
  drop            streams the first text deltas, then cuts the connection
  slow            waits 3 s before answering
Usage is input 20 (4 cached), output 9 (3 reasoning with `reasoning`).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes import tool_script
from tests.fakes.responses_rules import ENCRYPTED_PREFIX, Invalid, validate

API_KEY = "sk-fake-responses-key-789"
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):024x}"


def error_response(status: int, message: str, type_: str, param: str | None = None, code: str | None = None) -> Any:
    return web.json_response(
        {"error": {"message": message, "type": type_, "param": param, "code": code}},
        status=status,
        headers={"Retry-After": "1"} if status == 429 else None,
    )


def _last_user_text(items: Any) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            c = item.get("content")
            if isinstance(c, str):
                return c
            return " ".join(p.get("text", "") for p in c if p.get("type") == "input_text")
    return ""


def _trailing_outputs(items: Any) -> list[str]:
    """Tool outputs after the last assistant call: what this turn must answer."""
    outputs: list[str] = []
    for item in reversed(items if isinstance(items, list) else []):
        if item.get("type") not in ("function_call_output", "custom_tool_call_output"):
            break
        out = item.get("output")
        outputs.insert(0, out if isinstance(out, str) else " ".join(p.get("text", "") for p in out))
    return outputs


def _tool_names(tools: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, name) of every callable tool, namespaces flattened, hosted tools left out."""
    out: list[tuple[str, str]] = []
    for t in tools:
        if t.get("type") in ("function", "custom"):
            out.append((t["type"], t["name"]))
        elif t.get("type") == "namespace":
            out.extend(_tool_names(t.get("tools") or []))
    return out


class FakeResponses:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1/responses", self.create)
        self.app.router.add_post("/v1/responses/compact", self.compact)
        self.app.router.add_get("/v1/models", self.models)
        self.app.router.add_route("*", "/{tail:.*}", self.other)

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    async def other(self, request: web.Request) -> web.Response:
        self.paths.append(f"{request.method} {request.path}")
        return error_response(404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error")

    async def models(self, request: web.Request) -> web.Response:
        self.paths.append("GET /v1/models")
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-resp", "object": "model", "created": 1, "owned_by": "fake"}]}
        )

    async def create(self, request: web.Request) -> web.StreamResponse:
        self.paths.append("POST /v1/responses")
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return error_response(401, "Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key")
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        model = body.get("model", "") if isinstance(body, dict) else ""
        if model.startswith("fail-") and model[5:].isdigit():
            status = int(model[5:])
            type_ = {429: "rate_limit_error", 401: "invalid_request_error"}.get(status, "server_error")
            return error_response(status, f"upstream says {status}", type_)
        try:
            validate(body)
            items = self._history(body)
        except Invalid as err:
            return error_response(err.status, err.message, "invalid_request_error", err.param, err.code)
        if model == "slow":
            await asyncio.sleep(3)
        response = self._answer(body, items)
        if body.get("store", True) is not False:
            self.stored[response["id"]] = {"input": items, "output": response["output"]}
        if not body.get("stream"):
            if model == "fail-stream":
                return error_response(500, "The model failed.", "server_error")
            return web.json_response(response)
        return await self._stream(request, response)

    async def compact(self, request: web.Request) -> web.Response:
        """The conversation's user messages kept, the rest folded into one opaque compaction item."""
        self.paths.append("POST /v1/responses/compact")
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return error_response(401, "Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key")
        body = json.loads(await request.read())
        self.requests.append(body)
        try:
            validate({k: v for k, v in body.items() if k in ("model", "input", "instructions", "tools")})
            items = self._history(body)
        except Invalid as err:
            return error_response(err.status, err.message, "invalid_request_error", err.param, err.code)
        kept = [i for i in items if i.get("type", "message") == "message" and i.get("role") == "user"]
        folded = base64.b64encode(json.dumps(items).encode()).decode()
        compaction = {"type": "compaction", "id": _id("cmp"), "encrypted_content": ENCRYPTED_PREFIX + folded[:64]}
        return web.json_response(
            {
                "id": _id("resp"),
                "object": "response.compaction",
                "created_at": int(time.time()),
                "output": [*kept, compaction],
                "usage": {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25},
            }
        )

    def _history(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        items = body.get("input")
        items = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or [])
        prev = body.get("previous_response_id")
        if prev is not None:
            if prev not in self.stored:
                raise Invalid(f"Previous response with id '{prev}' not found.", "previous_response_id")
            items = self.stored[prev]["input"] + self.stored[prev]["output"] + items
        if not items:
            raise Invalid("Missing required parameter: 'input'.", "input")
        return items

    # ------------------------------------------------------------------------------------------- answer

    def _answer(self, body: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
        model = body["model"]
        tools = _tool_names(body.get("tools") or [])
        outputs = _trailing_outputs(items)
        output: list[dict[str, Any]] = []
        reasoning_tokens = 0
        if model == "reasoning":
            summary = "thinking hard"
            item: dict[str, Any] = {
                "id": _id("rs"),
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": summary}],
            }
            if "reasoning.encrypted_content" in (body.get("include") or []):
                item["encrypted_content"] = ENCRYPTED_PREFIX + base64.b64encode(summary.encode()).decode()
            output.append(item)
            reasoning_tokens = 3
        text = ""
        if outputs:
            text = (
                tool_script.answer(outputs[-1]) if model == tool_script.SCRIPT_MODEL else "got: " + " | ".join(outputs)
            )
        elif tools and body.get("tool_choice") != "none":
            kind, name = tools[0]
            arguments = json.dumps({"city": "Paris"})
            if model == tool_script.SCRIPT_MODEL:
                name, arguments = tool_script.shell_call_json([n for _, n in tools], _last_user_text(items))
                kind = dict((n, k) for k, n in tools).get(name, "function")
            call_id = _id("call")
            if kind == "custom":
                output.append(
                    {
                        "id": _id("ctc"),
                        "type": "custom_tool_call",
                        "status": "completed",
                        "call_id": call_id,
                        "name": name,
                        "input": "Paris",
                    }
                )
            else:
                output.append(
                    {
                        "id": _id("fc"),
                        "type": "function_call",
                        "status": "completed",
                        "arguments": arguments,
                        "call_id": call_id,
                        "name": name,
                    }
                )
        else:
            text = "echo: " + _last_user_text(items)
        status, incomplete = "completed", None
        if model == "length":
            text = " ".join(text.split()[:2])
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        if text:
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            output.append(
                {"id": _id("msg"), "type": "message", "status": status, "content": [part], "role": "assistant"}
            )
        return {
            "id": _id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": model + "-2026",
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "safety_identifier": None,
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_logprobs": 0,
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": {
                "input_tokens": 20,
                "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 9,
                "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
                "total_tokens": 29,
            },
            "user": None,
            "metadata": body.get("metadata") or {},
        }

    # ------------------------------------------------------------------------------------------- stream

    async def _stream(self, request: web.Request, response: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        seq = itertools.count()
        model = response["model"].removesuffix("-2026")

        async def send(type_: str, **fields: Any) -> None:
            data = json.dumps({"type": type_, "sequence_number": next(seq), **fields})
            await resp.write(f"event: {type_}\ndata: {data}\n\n".encode())

        opening = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
        await send("response.created", response=opening)
        await send("response.in_progress", response=opening)
        if model == "fail-stream":
            failed = {**opening, "status": "failed", "error": {"code": "server_error", "message": "The model failed."}}
            await send("response.failed", response=failed)
            return resp
        for index, item in enumerate(response["output"]):
            if await self._stream_item(request, send, index, item, model):
                return resp
        final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        await send(final, response=response)
        return resp

    async def _stream_item(self, request: web.Request, send: Any, index: int, item: dict[str, Any], model: str) -> bool:
        """Stream one output item; True when the connection was cut on purpose (model `drop`)."""
        at = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        if kind == "message":
            await send(
                "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []}
            )
            text = item["content"][0]["text"]
            empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            await send("response.content_part.added", **at, content_index=0, part=empty)
            pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
            for n, piece in enumerate(pieces):
                await send(
                    "response.output_text.delta", **at, content_index=0, delta=piece, logprobs=[], obfuscation="x"
                )
                if model == "drop" and n == 1:
                    await asyncio.sleep(0.05)
                    assert request.transport is not None
                    request.transport.close()
                    return True
            await send("response.output_text.done", **at, content_index=0, text=text, logprobs=[])
            await send("response.content_part.done", **at, content_index=0, part=item["content"][0])
        elif kind == "function_call":
            await send(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            args = item["arguments"]
            for i in range(0, len(args), 6):
                await send("response.function_call_arguments.delta", **at, delta=args[i : i + 6], obfuscation="x")
            await send("response.function_call_arguments.done", **at, name=item["name"], arguments=args)
        elif kind == "custom_tool_call":
            await send("response.output_item.added", output_index=index, item={**item, "input": ""})
            await send("response.custom_tool_call_input.delta", **at, delta=item["input"], obfuscation="x")
            await send("response.custom_tool_call_input.done", **at, input=item["input"])
        elif kind == "reasoning":
            await send(
                "response.output_item.added",
                output_index=index,
                item={"id": item["id"], "type": "reasoning", "summary": []},
            )
            for s, part in enumerate(item["summary"]):
                await send(
                    "response.reasoning_summary_part.added",
                    **at,
                    summary_index=s,
                    part={"type": "summary_text", "text": ""},
                )
                await send(
                    "response.reasoning_summary_text.delta", **at, summary_index=s, delta=part["text"], obfuscation="x"
                )
                await send("response.reasoning_summary_text.done", **at, summary_index=s, text=part["text"])
                await send("response.reasoning_summary_part.done", **at, summary_index=s, part=part)
        await send("response.output_item.done", output_index=index, item=item)
        return False
