"""A fake Ollama server speaking the native API (/api/chat, /api/generate, /api/embed, /api/tags, /api/show,
/api/version), stricter than the real one where a gateway's translation bugs would hide:
`stream` must be sent explicitly, `content` must be a string, images raw base64, tool-call arguments
objects, at most one system message and only first, option values of the right type.

Behaviour is chosen by the model name:
  anything      echo the last user text ("echo: ..."; "+ N image(s)" when images came); with tools, call
                tools[0] with {"city": "Paris"} (and tools[1] too when the text says "parallel")
  old-*         like anything, but tool calls carry no id (old servers)
  thinker       thinking text before the answer
  think-tags    answer with inline "<think>inner</think>\\n\\nAnswer" cut across awkward chunks
  length        done_reason "length"
  big           one content line of 200 KB
  error-line    one content line, then {"error": ...}
  drop          one content line, then the connection is cut
  fail-NNN      that HTTP status with {"error": "..."}
  script        the Codex CLI script (tool_script.py): run the user's `command`, then quote its output
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
from typing import Any

from aiohttp import web

from tests.fakes import tool_script

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PROMPT_TOKENS = 11
EVAL_TOKENS = 6


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


class FakeOllama:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/api/chat", self.chat)
        self.app.router.add_post("/api/generate", self.generate)
        self.app.router.add_post("/api/embed", self.embed)
        self.app.router.add_get("/api/tags", self.tags)
        self.app.router.add_post("/api/show", self.show)
        self.app.router.add_get("/api/version", self.version)
        self.app.router.add_get("/pixel.png", self.pixel)  # an image "on the web", for URL images

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _bad("invalid character looking for beginning of value")
        if not isinstance(body, dict):
            return _bad("json: cannot unmarshal into Go value")
        self.requests.append(body)
        self.paths.append(request.path)
        if not body.get("model"):
            return _bad("model is required")
        model = body["model"]
        if model.startswith("fail-"):
            status = int(model.split("-")[1])
            return _bad(f"fake ollama says {status}" if status != 404 else f"model '{model}' not found", status)
        return body

    def _validate_common(self, body: dict[str, Any]) -> web.Response | None:
        if "stream" not in body or not isinstance(body["stream"], bool):
            return _bad("fake ollama: `stream` must be sent explicitly (the real server streams by default)")
        opts = body.get("options")
        if opts is not None:
            if not isinstance(opts, dict):
                return _bad("options must be an object")
            for key in ("num_predict", "top_k", "seed", "num_ctx"):
                if key in opts and not isinstance(opts[key], int):
                    return _bad(f"option {key!r} must be of type integer")
            for key in ("temperature", "top_p"):
                if key in opts and not isinstance(opts[key], (int, float)):
                    return _bad(f"option {key!r} must be of type number")
            if "stop" in opts and not (
                isinstance(opts["stop"], list) and all(isinstance(s, str) for s in opts["stop"])
            ):
                return _bad("option 'stop' must be an array of strings")
        fmt = body.get("format")
        if fmt is not None and not (fmt in ("", "json") or isinstance(fmt, dict)):
            return _bad("invalid format")
        return None

    @staticmethod
    def _check_images(images: Any, where: str) -> web.Response | None:
        if not isinstance(images, list):
            return _bad(f"{where}: images must be an array")
        for img in images:
            if not isinstance(img, str) or img.startswith("data:"):
                return _bad(f"{where}: images must be raw base64")
            try:
                base64.b64decode(img, validate=True)
            except (binascii.Error, ValueError):
                return _bad("illegal base64 data")
        return None

    def _validate_chat(self, body: dict[str, Any]) -> web.Response | None:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return _bad("messages must be an array")
        for i, m in enumerate(messages):
            role = m.get("role")
            if role not in ("system", "user", "assistant", "tool"):
                return _bad(f"messages[{i}]: invalid role {role!r}")
            if role == "system" and i != 0:
                return _bad("fake ollama: the template takes one leading system message")
            if not isinstance(m.get("content", ""), str):
                return _bad(f"messages[{i}].content: json: cannot unmarshal into string")
            if "images" in m:
                bad = self._check_images(m["images"], f"messages[{i}]")
                if bad is not None:
                    return bad
            for tc in m.get("tool_calls") or []:
                if not isinstance(tc.get("function", {}).get("arguments"), dict):
                    return _bad(f"messages[{i}].tool_calls: arguments must be an object")
        tools = body.get("tools")
        if tools is not None:
            if not isinstance(tools, list):
                return _bad("tools must be an array")
            for t in tools:
                if t.get("type") != "function" or not t.get("function", {}).get("name"):
                    return _bad("invalid tool")
                params = t["function"].get("parameters")
                if params is not None and params.get("type") != "object":
                    return _bad("tool parameters must be an object schema")
        return None

    # ------------------------------------------------------------------------------------------- planning

    @staticmethod
    def _plan(body: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]], str]:
        messages = body.get("messages") or []
        model = body["model"]
        last = messages[-1] if messages else {"role": "user", "content": body.get("prompt", "")}
        calls: list[dict[str, Any]] = []
        thinking = "thinking hard" if model == "thinker" and body.get("think") is not False else ""
        if model == tool_script.SCRIPT_MODEL and (last.get("role") == "tool" or body.get("tools")):
            if last.get("role") == "tool":
                return tool_script.answer(str(last.get("content", ""))), "", [], "stop"
            user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
            name, args = tool_script.shell_call(tool_script.tool_names(body["tools"]), user)
            return "", "", [{"id": "call_s1", "function": {"index": 0, "name": name, "arguments": args}}], "stop"
        if last.get("role") == "tool":
            results = []
            for m in reversed(messages):
                if m.get("role") != "tool":
                    break
                results.insert(0, f"{m.get('tool_name', '?')}={m.get('content', '')}")
            text = "got: " + " | ".join(results)
        elif body.get("tools"):
            names = [t["function"]["name"] for t in body["tools"]]
            user = last.get("content", "")
            calls.append({"function": {"name": names[0], "arguments": {"city": "Paris"}}})
            if "parallel" in user and len(names) > 1:
                calls.append({"function": {"name": names[1], "arguments": {"tz": "Europe/Paris"}}})
            if not model.startswith("old-"):
                for i, c in enumerate(calls):
                    c["id"] = f"call_o{i + 1}"
                    c["function"]["index"] = i
            text = ""
        else:
            text = "echo: " + (last.get("content") or "")
            images = last.get("images") or body.get("images") or []
            if images:
                text += f" + {len(images)} image{'s' if len(images) > 1 else ''}"
        if model == "think-tags":
            text = "<think>inner</think>\n\nAnswer"
        if model == "big":
            text = "x" * 200_000
        done = "length" if model == "length" else "stop"
        return text, thinking, calls, done

    @staticmethod
    def _final(model: str, done: str) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": "2025-01-01T00:00:00.3Z",
            "done": True,
            "done_reason": done,
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_count": PROMPT_TOKENS,
            "prompt_eval_duration": 342546000,
            "eval_count": EVAL_TOKENS,
            "eval_duration": 4535599000,
        }

    async def _respond(self, request: web.Request, body: dict[str, Any], generate: bool) -> web.StreamResponse:
        text, thinking, calls, done = self._plan(body)
        model = body["model"]

        def piece(content: str = "", think: str = "", tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
            if generate:
                out: dict[str, Any] = {"model": model, "created_at": "2025-01-01T00:00:00.1Z", "response": content}
                if think:
                    out["thinking"] = think
                return out
            msg: dict[str, Any] = {"role": "assistant", "content": content}
            if think:
                msg["thinking"] = think
            if tool_calls:
                msg["tool_calls"] = tool_calls
            return {"model": model, "created_at": "2025-01-01T00:00:00.1Z", "message": msg}

        if not body["stream"]:
            out = piece(text, thinking, calls)
            out.update(self._final(model, done))
            return web.json_response(out)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)

        async def line(obj: dict[str, Any]) -> None:
            await resp.write(json.dumps(obj).encode() + b"\n")

        if thinking:
            await line({**piece("", thinking), "done": False})
        if model == "think-tags":
            chunks = ["<thi", "nk>inn", "er</th", "ink>\n", "\nAnswer"]
        elif model == "big":
            chunks = [text]
        else:
            chunks = [text[i : i + 4] for i in range(0, len(text), 4)]
        for n, chunk in enumerate(chunks):
            await line({**piece(chunk), "done": False})
            if n == 0 and model == "error-line":
                await line({"error": "an error was encountered while running the model"})
                return resp
            if n == 0 and model == "drop":
                await asyncio.sleep(0.05)
                assert request.transport is not None
                request.transport.close()
                return resp
        if calls:
            await line({**piece("", "", calls), "done": False})
        await line({**piece(""), **self._final(model, done)})
        return resp

    # ------------------------------------------------------------------------------------------- endpoints

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        bad = self._validate_common(body) or self._validate_chat(body)
        if bad is not None:
            return bad
        return await self._respond(request, body, generate=False)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        bad = self._validate_common(body)
        if bad is None and "images" in body:
            bad = self._check_images(body["images"], "images")
        if bad is not None:
            return bad
        return await self._respond(request, body, generate=True)

    async def embed(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            return _bad("invalid input type")
        vectors = []
        for s in inputs:
            v = [float(len(s)), 1.0, -2.0]
            n = math.sqrt(sum(x * x for x in v))
            vectors.append([x / n for x in v])
        return web.json_response(
            {
                "model": body["model"],
                "embeddings": vectors,
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": 3 * len(inputs),
            }
        )

    async def tags(self, request: web.Request) -> web.Response:
        details = {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        }
        return web.json_response(
            {
                "models": [
                    {
                        "name": "llama3.2:latest",
                        "model": "llama3.2:latest",
                        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
                        "size": 2019393189,
                        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                        "details": details,
                    },
                    {
                        "name": "qwen3:8b",
                        "model": "qwen3:8b",
                        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
                        "size": 5200000000,
                        "digest": "b" * 64,
                        "details": {
                            **details,
                            "family": "qwen3",
                            "families": ["qwen3"],
                            "parameter_size": "8.2B",
                            "context_length": 40960,
                        },
                        "capabilities": ["completion", "tools", "thinking"],
                    },
                ]
            }
        )

    async def show(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        return web.json_response(
            {
                "details": {"family": "llama"},
                "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                "capabilities": ["completion", "tools"],
            }
        )

    async def pixel(self, request: web.Request) -> web.Response:
        return web.Response(body=base64.b64decode(PIXEL), content_type="image/png")

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.3"})
