"""OpenAI-format deployments that fail in scripted patterns, for routing and resilience tests.

Each deployment lives under its own path prefix (`/<name>/v1`), so one server plays several targets. A
deployment follows its script one step per request, then repeats its last step. Steps:
  "ok"            a normal answer naming the deployment ("from a")
  "400" / "500" / "503" / "529"   that status with an OpenAI error body
  "429"           429 with Retry-After: 1
  "slow:S"        answer after S seconds (stream: the first token comes after S seconds)
  "drop"          stream one chunk, then cut the connection
  "stall"         stream one chunk, then go silent for 3 s
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

from aiohttp import web


class ScriptedUpstream:
    def __init__(self) -> None:
        self.scripts: dict[str, list[str]] = {}
        self.hits: dict[str, int] = defaultdict(int)
        self.bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.headers: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.app = web.Application()
        self.app.router.add_post("/{name}/v1/chat/completions", self.chat)

    def script(self, name: str, steps: list[str]) -> None:
        self.scripts[name] = list(steps)
        self.hits[name] = 0
        self.bodies[name].clear()

    def _step(self, name: str) -> str:
        steps = self.scripts.get(name) or ["ok"]
        n = self.hits[name]
        return steps[min(n, len(steps) - 1)]

    async def chat(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = await request.json()
        step = self._step(name)
        self.hits[name] += 1
        self.bodies[name].append(body)
        self.headers[name].append(dict(request.headers))
        if step.isdigit():
            status = int(step)
            headers = {"Retry-After": "1"} if status == 429 else None
            return web.json_response(
                {"error": {"message": f"{name} says {status}", "type": "server_error", "param": None, "code": None}},
                status=status,
                headers=headers,
            )
        delay = float(step.split(":")[1]) if step.startswith("slow:") else 0.0
        text = f"from {name}"
        if not body.get("stream"):
            await asyncio.sleep(delay)
            return web.json_response(
                {
                    "id": "chatcmpl-s",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return (
                b"data: "
                + json.dumps(
                    {
                        "id": "chatcmpl-s",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": body["model"],
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                ).encode()
                + b"\n\n"
            )

        await resp.write(chunk({"role": "assistant", "content": ""}))
        await asyncio.sleep(delay)
        await resp.write(chunk({"content": text}))
        if step == "stall":
            await asyncio.sleep(3)
        if step == "drop":
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(chunk({"content": " and more"}))
        await resp.write(chunk({}, "stop"))
        await resp.write(
            b'data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1,"model":"m",'
            b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n'
        )
        await resp.write(b"data: [DONE]\n\n")
        return resp
