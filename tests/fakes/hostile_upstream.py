"""An OpenAI-format upstream that misbehaves the ways tests/test_edge_upstream.py needs, chosen by the model
name: `ok`, `redirect` (307 to the `elsewhere` server, which records what reaches it), `echo-headers` (an
error body that echoes the request headers, API key included), `huge-error` (a 1 MB error body),
`stream-echo` (a stream whose error event echoes them), `huge` / `huge-chunked` (a 200 body of `huge_bytes`, with and without Content-Length). It also serves
images: /img/pixel.png, /img/big (2 MB), /img/redirect?to=URL, /img/page (text/html)."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
API_KEY = "sk-hostile-0123456789abcdefghij"


class Elsewhere:
    """Where a redirect points: it must never see a request (it would get the key and the prompt)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.any)

    async def any(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": await request.text()})
        return web.json_response({"error": {"message": "you should not be here"}}, status=404)


class HostileUpstream:
    def __init__(self, huge_bytes: int = 200_000) -> None:
        self.elsewhere_url = ""
        self.huge_bytes = huge_bytes
        self.image_hits = 0
        self.app = web.Application(middlewares=[self.count_images])
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_get("/img/pixel.png", self.pixel)
        self.app.router.add_get("/img/big", self.big)
        self.app.router.add_get("/img/redirect", self.redirect)
        self.app.router.add_get("/img/page", self.page)

    @web.middleware
    async def count_images(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/img/"):
            self.image_hits += 1
        return await handler(request)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = body.get("model")
        if model == "redirect":
            raise web.HTTPTemporaryRedirect(self.elsewhere_url + "/v1/chat/completions")
        if model == "echo-headers":
            seen = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
            return web.json_response({"error": {"message": f"bad request, headers were: {seen}"}}, status=400)
        if model == "stream-echo":  # one chunk, then an error event that echoes the request headers
            seen = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "partial"}, "finish_reason": None}],
            }
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            error = {"error": {"message": f"stream broke, headers were: {seen}", "type": "server_error"}}
            await resp.write(b"data: " + json.dumps(error).encode() + b"\n\n")
            await resp.write_eof()
            return resp
        if model == "huge-error":
            return web.json_response({"error": {"message": "E" * 1_000_000}}, status=400)
        text = "x" * self.huge_bytes if model.startswith("huge") else "fine"
        payload = json.dumps(
            {
                "id": "chatcmpl-h",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()
        if model == "huge-chunked":
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(0, len(payload), 16384):
                await resp.write(payload[i : i + 16384])
            await resp.write_eof()
            return resp
        return web.Response(body=payload, content_type="application/json")

    async def pixel(self, request: web.Request) -> web.Response:
        return web.Response(body=base64.b64decode(PIXEL), content_type="image/png")

    async def big(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        resp.enable_chunked_encoding()  # no Content-Length: the size is found out while reading
        await resp.prepare(request)
        for _ in range(32):
            await resp.write(b"\0" * 65536)
        await resp.write_eof()
        return resp

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>not an image</html>", content_type="text/html")
