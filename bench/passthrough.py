"""The bare passthrough: the least a gateway on our stack (Sanic + msgspec + aiohttp) can do per request.

It decodes the body once into a small msgspec Struct (as a gateway must, to route on `model`), forwards the
raw bytes upstream over one pooled aiohttp session per worker, and relays the answer (streams chunk by
chunk). No routing table, metrics or logs. llm-link's CPU per request is judged against this ceiling.

    python -m bench.passthrough --upstream http://127.0.0.1:9100 --port 9200 --workers 2
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import aiohttp
import msgspec
from sanic import Request, Sanic, response
from sanic.worker.loader import AppLoader


class _Msg(msgspec.Struct):
    role: str
    content: Any = None


class _Chat(msgspec.Struct):
    model: str
    messages: list[_Msg]
    stream: bool = False


class _Messages(msgspec.Struct):
    model: str
    messages: list[_Msg]
    max_tokens: int
    stream: bool = False


_decode = msgspec.json.Decoder(_Chat).decode
_decode_messages = msgspec.json.Decoder(_Messages).decode


def create_app(upstream: str) -> Sanic:
    app = Sanic("bench_passthrough")
    app.config.ACCESS_LOG = False
    app.config.MOTD = False
    app.config.RESPONSE_TIMEOUT = 3600
    url = upstream.rstrip("/") + "/v1/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}
    # Anthropic on both sides: the same relay, for the same-API lane's baseline.
    messages_url = upstream.rstrip("/") + "/v1/messages"
    messages_headers = {"Content-Type": "application/json", "x-api-key": "bench", "anthropic-version": "2023-06-01"}

    @app.before_server_start
    async def start(app: Sanic) -> None:
        app.ctx.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)

    @app.after_server_stop
    async def stop(app: Sanic) -> None:
        await app.ctx.http.close()

    async def relay(request: Request, decode: Any, url: str, headers: dict[str, str]) -> Any:
        try:
            req = decode(request.body)
        except msgspec.DecodeError as err:
            return response.json({"error": {"message": str(err), "type": "invalid_request_error"}}, status=400)
        up = await app.ctx.http.post(url, data=request.body, headers=headers)
        if not req.stream:
            body = await up.read()
            up.release()
            return response.raw(body, status=up.status, content_type="application/json")
        out = await request.respond(content_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        try:
            async for piece in up.content.iter_any():
                await out.send(piece)
        finally:
            up.release()
        await out.eof()
        return None

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        return await relay(request, _decode, url, headers)

    @app.post("/v1/messages")
    async def messages(request: Request) -> Any:
        return await relay(request, _decode_messages, messages_url, messages_headers)

    @app.get("/health")
    async def health(request: Request) -> Any:
        return response.json({"ok": True})

    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", default="http://127.0.0.1:9100")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9200)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    loader = AppLoader(factory=partial(create_app, a.upstream))  # picklable: workers are spawned
    app = loader.load()
    app.prepare(host=a.host, port=a.port, workers=a.workers, access_log=False, motd=False, single_process=False)
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
