"""An upstream that misbehaves on purpose, in three wire formats: OpenAI Chat Completions (SSE),
Anthropic Messages (SSE) and Ollama /api/chat (NDJSON). The fault is the upstream model name, so one
server and one provider per wire format cover every case (`faulty/<fault>` in a gateway config).

Faults (stream and whole answers alike, unless said):
  ok            a correct answer "Hello world" (also what the soak's normal traffic gets)
  truncated     the first content chunk, then a clean end without the stream's terminator (whole: half a JSON body)
  invalid_json  the first content chunk, then a chunk that is not JSON (whole: a body that is not JSON)
  stall         the first content chunk, then silence forever (whole: headers, then silence)
  stall_start   accepts the request and never sends headers
  reset         the first content chunk, then a TCP reset (whole: half a body, then a reset)
  gzip_lie      says Content-Encoding: gzip and sends plain bytes
  huge_line     the first content chunk, then one 20 MB line without a newline (whole: a 20 MB JSON string)
  error_200     200 whose first (stream) or only (whole) payload is the wire's error object
  error_mid     the first content chunk, then the wire's in-stream error
  trickle       the correct answer, a few bytes at a time
  html          200 with an HTML page (a captive portal or a misconfigured base_url)
  empty         200 with an empty body
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Callable
from typing import Any

from aiohttp import web

FAULTS = (
    "ok",
    "truncated",
    "invalid_json",
    "stall",
    "stall_start",
    "reset",
    "gzip_lie",
    "huge_line",
    "error_200",
    "error_mid",
    "trickle",
    "html",
    "empty",
)
HUGE = 20 * 1024 * 1024
TEXT = ["Hello", " world"]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n\n"


def _ndjson(data: Any) -> bytes:
    return json.dumps(data).encode() + b"\n"


class Wire:
    """One upstream format: its frames (head = start + first content, tail = the rest and the end), whole
    body, in-stream error frame and a broken frame."""

    content_type = "text/event-stream"
    stream_default = False

    def head(self, model: str) -> list[bytes]: ...
    def tail(self, model: str) -> list[bytes]: ...
    def whole(self, model: str) -> dict[str, Any]: ...
    def error_frame(self) -> bytes: ...
    def error_body(self) -> dict[str, Any]: ...

    broken = b'data: {"choices": [{"delta": {"content": "x"\n\n'
    huge_prefix = b'data: {"choices":[{"index":0,"delta":{"content":"'


class OpenAIWire(Wire):
    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": "chatcmpl-faulty",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    def head(self, model: str) -> list[bytes]:
        return [self._chunk(model, {"role": "assistant", "content": ""}), self._chunk(model, {"content": TEXT[0]})]

    def tail(self, model: str) -> list[bytes]:
        return [
            self._chunk(model, {"content": TEXT[1]}),
            self._chunk(model, {}, "stop"),
            _sse(
                {
                    "id": "chatcmpl-faulty",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                }
            ),
            b"data: [DONE]\n\n",
        ]

    def whole(self, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-faulty",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "".join(TEXT)}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }

    def error_body(self) -> dict[str, Any]:
        return {"error": {"message": "upstream exploded", "type": "server_error", "param": None, "code": None}}

    def error_frame(self) -> bytes:
        return _sse(self.error_body())


class AnthropicWire(Wire):
    broken = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0,\n\n'
    huge_prefix = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"text":"'

    def head(self, model: str) -> list[bytes]:
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_faulty",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        }
        return [
            _sse(start, "message_start"),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            self._delta(TEXT[0]),
        ]

    def _delta(self, text: str) -> bytes:
        return _sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            "content_block_delta",
        )

    def tail(self, model: str) -> list[bytes]:
        return [
            self._delta(TEXT[1]),
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 2},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]

    def whole(self, model: str) -> dict[str, Any]:
        return {
            "id": "msg_faulty",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(TEXT)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 2},
        }

    def error_body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": "api_error", "message": "upstream exploded"}}

    def error_frame(self) -> bytes:
        return _sse(self.error_body(), "error")


class OllamaWire(Wire):
    content_type = "application/x-ndjson"
    stream_default = True
    broken = b'{"model": "x", "message": {"role": "assistant", "content": \n'
    huge_prefix = b'{"model":"x","message":{"role":"assistant","content":"'

    def _line(self, model: str, text: str, done: bool = False) -> bytes:
        line: dict[str, Any] = {
            "model": model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": done,
        }
        if done:
            line.update(
                done_reason="stop",
                total_duration=1000,
                load_duration=0,
                prompt_eval_count=5,
                prompt_eval_duration=100,
                eval_count=2,
                eval_duration=100,
            )
        return _ndjson(line)

    def head(self, model: str) -> list[bytes]:
        return [self._line(model, TEXT[0])]

    def tail(self, model: str) -> list[bytes]:
        return [self._line(model, TEXT[1]), self._line(model, "", done=True)]

    def whole(self, model: str) -> dict[str, Any]:
        return json.loads(self._line(model, "".join(TEXT), done=True))

    def error_body(self) -> dict[str, Any]:
        return {"error": "upstream exploded"}

    def error_frame(self) -> bytes:
        return _ndjson(self.error_body())


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed proxy or load balancer does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


async def _hold(request: web.Request, limit: float = 600.0) -> None:
    """Say nothing until the peer hangs up (aiohttp does not cancel handlers on disconnect)."""
    for _ in range(int(limit / 0.05)):
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.05)


class FaultyUpstream:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.open_streams = 0  # responses in progress (a stall the gateway forgot would stay here)
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        for path, wire in (
            ("/v1/chat/completions", OpenAIWire()),
            ("/v1/messages", AnthropicWire()),
            ("/api/chat", OllamaWire()),
        ):
            self.app.router.add_post(path, self._handler(wire))
        self.app.router.add_get("/v1/models", self.models)
        self.app.router.add_get("/api/tags", self.tags)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": f, "object": "model"} for f in FAULTS]})

    async def tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": f, "model": f} for f in FAULTS]})

    def _handler(self, wire: Wire) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            model = str(body.get("model", "ok"))
            fault = model.split(":")[0]
            self.hits[fault] = self.hits.get(fault, 0) + 1
            stream = body.get("stream", wire.stream_default) is not False
            self.open_streams += 1
            try:
                if stream:
                    return await self._stream(request, wire, fault, model)
                return await self._whole(request, wire, fault, model)
            except ConnectionResetError:  # the gateway hung up (its client left, or it timed us out)
                raise asyncio.CancelledError from None
            finally:
                self.open_streams -= 1

        return handle

    async def _stream(self, request: web.Request, wire: Wire, fault: str, model: str) -> web.StreamResponse:
        if fault == "stall_start":
            await _hold(request)
        if fault == "html":
            return web.Response(text="<html><body>Please log in</body></html>", content_type="text/html")
        if fault == "empty":
            return web.Response(body=b"", content_type=wire.content_type)
        if fault == "error_200":
            return web.Response(body=wire.error_frame(), content_type=wire.content_type)
        headers = {"Content-Type": wire.content_type, "Cache-Control": "no-cache"}
        if fault == "gzip_lie":
            headers["Content-Encoding"] = "gzip"
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        head, tail = wire.head(model), wire.tail(model)
        if fault in ("ok", "gzip_lie"):
            for frame in head + tail:
                await resp.write(frame)
        elif fault == "trickle":
            data = b"".join(head + tail)
            for i in range(0, len(data), 16):
                await resp.write(data[i : i + 16])
                await asyncio.sleep(0.002)
        else:
            for frame in head:
                await resp.write(frame)
            if fault == "truncated":
                pass
            elif fault == "invalid_json":
                await resp.write(wire.broken)
                await resp.write(b"".join(tail))
            elif fault == "stall":
                await _hold(request)
                return resp
            elif fault == "reset":
                await asyncio.sleep(0.05)
                _reset(request)
                return resp
            elif fault == "huge_line":
                await resp.write(wire.huge_prefix)
                block = b"a" * (1024 * 1024)
                for _ in range(HUGE // len(block)):
                    await resp.write(block)
            elif fault == "error_mid":
                await resp.write(wire.error_frame())
        await resp.write_eof()
        return resp

    async def _whole(self, request: web.Request, wire: Wire, fault: str, model: str) -> web.StreamResponse:
        body = json.dumps(wire.whole(model)).encode()
        if fault == "stall_start":
            await _hold(request)
        if fault == "ok":
            return web.Response(body=body, content_type="application/json")
        if fault == "truncated":
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        if fault == "invalid_json":
            return web.Response(body=b"{this is not json", content_type="application/json")
        if fault == "gzip_lie":
            return web.Response(body=body, content_type="application/json", headers={"Content-Encoding": "gzip"})
        if fault in ("error_200", "error_mid"):
            return web.json_response(wire.error_body())
        if fault == "html":
            return web.Response(text="<html><body>Please log in</body></html>", content_type="text/html")
        if fault == "empty":
            return web.Response(body=b"", content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        if fault == "huge_line":
            resp.content_length = HUGE + 2
            await resp.prepare(request)
            await resp.write(b'"')
            block = b"a" * (1024 * 1024)
            for _ in range(HUGE // len(block)):
                await resp.write(block)
            await resp.write(b'"')
            await resp.write_eof()
            return resp
        if fault == "trickle":
            await resp.prepare(request)
            for i in range(0, len(body), 16):
                await resp.write(body[i : i + 16])
                await asyncio.sleep(0.002)
            await resp.write_eof()
            return resp
        # stall / reset: half the body first
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[: len(body) // 2])
        if fault == "stall":
            await _hold(request)
        _reset(request)
        return resp
