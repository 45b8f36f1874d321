"""`/v1/realtime` (OpenAI's Realtime API over WebSocket), relayed to an upstream that serves it
(Provider.realtime: `openai`-type providers). Frames pass both ways untouched, text and binary, one at a
time (each waits for the other side to take it, so neither side can queue up memory); the client's key is
checked and swapped for the provider's before the upgrade. A whole session is one call: the key's limits
admit it, its `response.done` usage counts as tokens and spend, and it ends with one log line.

Close codes: the upstream's close is passed to the client (1006, a lost connection, becomes 1011); the
client's close is passed upstream. Errors before the upgrade (no key, unknown model, an upstream that
cannot be reached or refuses) are ordinary HTTP errors in OpenAI's shape."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import msgspec
from sanic import HTTPResponse, Request

from dialects.openai.errors import error_object, render_error
from gateway import serve, wscall
from gateway.call import Call
from gateway.router import Target
from unified.errors import GatewayError, invalid
from unified.types import Usage

log = logging.getLogger("llm_link")

PASSED = ("openai-beta",)  # client headers the upstream needs (the beta protocol version)
_SENDABLE = {1000, 1001, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


class _Details(msgspec.Struct):
    cached_tokens: int = 0


class _Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    input_token_details: _Details | None = None


class _Done(msgspec.Struct):
    usage: _Usage | None = None


class _Event(msgspec.Struct):
    response: _Done | None = None


_done_decoder = msgspec.json.Decoder(_Event)


def _close_code(code: int | None) -> int:
    """A code we may send: the peer's own, else 1011 (a connection lost without a close frame)."""
    if code is None:
        return 1011
    return code if code in _SENDABLE or 3000 <= code <= 4999 else 1011


async def open_upstream(request: Request) -> HTTPResponse | None:
    """Before the upgrade: key, model, route, and the upstream's own WebSocket (kept on request.ctx)."""
    call = Call(request.headers.get("x-request-id"), "openai")
    try:
        guard = request.app.ctx.guard
        if guard is not None:
            await guard.enter(request, call)  # a GET: authenticates only; the session is admitted later
        model = request.args.get("model")
        if not model:
            raise invalid("model: the `model` query parameter is required", "model")
        route = serve.resolve(call, request, model)
        target = route.primary
        spec = target.provider.realtime(target.model)
        if spec is None:
            raise invalid(
                f"model {route.name!r} is served by provider {target.provider.name!r}, which has no Realtime API",
                "model",
            )
        url, headers = spec
        for name in PASSED:
            if name in request.headers:
                headers = {**headers, name: request.headers[name]}
        request.ctx.realtime = (model, target, await _connect(request, target, url, headers))
    except GatewayError as err:
        response = render_error(err)
        response.headers.update(err.headers)
        response.headers["X-Request-ID"] = call.request_id
        return response
    return None


async def _connect(request: Request, target: Target, url: str, headers: dict[str, str]) -> Any:
    http = request.app.ctx.http
    connecting = http.ws_connect(
        url, headers=headers, max_msg_size=request.app.config.WEBSOCKET_MAX_SIZE, heartbeat=30.0
    )
    try:
        return await asyncio.wait_for(connecting, target.provider.config.connect_timeout)
    except aiohttp.WSServerHandshakeError as err:
        status = 404 if err.status == 404 else 502  # the upstream refusing our key is our problem, not the client's
        raise GatewayError(
            "not_found" if status == 404 else "api_error",
            f"upstream {target.provider.name!r} refused the realtime connection ({err.status})",
            status=status,
        ) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as err:
        raise GatewayError(
            "api_error", f"upstream {target.provider.name!r} unreachable for realtime: {type(err).__name__}", status=502
        ) from None


async def session(request: Request, ws: Any) -> None:
    model, target, upstream = request.ctx.realtime

    async def relay(call: Call) -> None:
        serve.resolve(call, request, model)  # the call's model labels (checked before the upgrade)
        call.provider = target.provider.name
        call.upstream_model = target.model
        call.upstream_label = target.metric_model
        call.target = target.header_label
        call.attempts = 1
        call.stream = True
        t0 = time.perf_counter()
        try:
            await _relay(call, ws, upstream, target)
        finally:
            call.upstream_seconds += time.perf_counter() - t0

    async def failed(call: Call, err: GatewayError) -> None:  # not admitted (limits), or an internal fault
        await ws.send(msgspec.json.encode({"type": "error", "error": error_object(err)}).decode())
        await ws.close(1008 if err.status == 429 or err.status == 403 else 1011, err.message[:120])

    try:
        await wscall.run(request, "openai", relay, failed)
    except Exception as err:
        if not wscall.closed_error(err):
            raise
    finally:
        if not upstream.closed:
            await upstream.close()


async def _relay(call: Call, ws: Any, upstream: Any, target: Target) -> None:
    async def down() -> tuple[str, int | None]:
        async for msg in upstream:
            if msg.type == aiohttp.WSMsgType.TEXT:
                data: str = msg.data
                if '"response.done"' in data:
                    _count(call, target, data)
                await ws.send(data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send(msg.data)
            else:
                break
        return "upstream", upstream.close_code

    async def up() -> tuple[str, int | None]:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                data = await ws.recv()
                if data is None:
                    break
                if isinstance(data, str):
                    await upstream.send_str(data)
                else:
                    await upstream.send_bytes(bytes(data))
        except ConnectionClosed as closed:
            return "client", closed.rcvd.code if closed.rcvd is not None else None
        except asyncio.CancelledError:
            # Sanic cancels a pending recv() when the client closes; a cancel of ours finds no close frame.
            if _client_close(ws) is None:
                raise
        return "client", _client_close(ws)

    tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
    try:
        finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        side, code = next(iter(finished)).result()
    except asyncio.CancelledError:
        # Sanic cancels the handler once the client's close frame arrives: an ordinary end of a session.
        code = _client_close(ws)
        if code is None:
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        side = "client"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if side == "upstream":
        await ws.close(_close_code(code), "upstream closed")
    else:
        call.status = 200
        await upstream.close(code=code if code in (1000, 1001) or (code and 3000 <= code <= 4999) else 1000)


def _client_close(ws: Any) -> int | None:
    rcvd = getattr(getattr(ws, "ws_proto", None), "close_rcvd", None)
    return rcvd.code if rcvd is not None else None


def _count(call: Call, target: Target, data: str) -> None:
    """A finished response's usage: tokens for TPM, quotas and metrics, and its cost."""
    try:
        event = _done_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    usage = event.response.usage if event.response is not None else None
    if usage is None:
        return
    cached = usage.input_token_details.cached_tokens if usage.input_token_details else 0
    call.input_tokens += usage.input_tokens
    call.output_tokens += usage.output_tokens
    call.cached_tokens += cached
    if target.rates is not None:
        cost = target.rates.cost(Usage(usage.input_tokens, usage.output_tokens, cached))
        call.cost = (call.cost or 0.0) + cost
