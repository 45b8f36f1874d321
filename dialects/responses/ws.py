"""The Responses API over WebSocket (`GET /v1/responses` upgraded), as Codex speaks it: the client sends
`response.create` messages (a Responses request body with `"type": "response.create"`), one at a time; the
gateway answers each with the events of the SSE stream, one JSON text message per event, ending with
`response.completed` (or `response.failed`). A failure before the first event is one
`{"type": "error", "status": ..., "error": {...}}` message. Every message is a model call of its own: key
limits, metrics, spend and the access log as for POST /v1/responses.

Codex continues a conversation on the same connection with `previous_response_id` and only the new input
items, whether or not it asked to store anything, so each connection keeps its last few answers
(connection-local, gone with the connection); an id not found there is looked up in `responses.store`.
Answers are translated through the unified types, so every provider type serves them."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from dialects.responses import codec_in, codec_out
from dialects.responses import schema as wire
from dialects.responses.errors import error_object, render_error
from dialects.responses.routes import (
    _Answer,
    _check_hosted,
    _create_decoder,
    _history,
    _keep,
    _own_history,
    _refs,
)
from dialects.responses.store import MemoryStore, ResponseStore
from gateway import serve, streamed, wscall
from gateway.call import Call
from gateway.streamed import StreamAnswer
from unified.errors import GatewayError
from unified.types import StreamError

log = logging.getLogger("llm_link")

LOCAL_ANSWERS = 4  # answers a connection keeps for `previous_response_id`
LOCAL_BYTES = 32 * 1024 * 1024
LOCAL_TTL = 3600.0
IGNORED = frozenset({"response.processed"})  # acknowledgements Codex may send; nothing to answer


class _Kind(msgspec.Struct):
    type: str = ""


_kind_decoder = msgspec.json.Decoder(_Kind)


def sse_payloads(data: bytes) -> list[bytes]:
    """The JSON of each SSE event the encoder wrote (`event: x\\ndata: {...}\\n\\n`); comments (pings) dropped."""
    out = []
    for frame in data.split(b"\n\n"):
        at = frame.find(b"data: ")
        if at >= 0:
            out.append(frame[at + 6 :])
    return out


def error_message(err: GatewayError) -> str:
    status = 503 if err.status == 529 else err.status
    return msgspec.json.encode({"type": "error", "status": status, "error": error_object(err)}).decode()


async def check_key(request: Request) -> HTTPResponse | None:
    """Before the upgrade: a missing or wrong key is refused as an HTTP error (401) in OpenAI's shape, so
    the client sees it as it would on POST."""
    guard = request.app.ctx.guard
    if guard is None:
        return None
    try:
        await guard.enter(request, Call(request.headers.get("x-request-id"), "responses"))  # a GET: the key only
    except GatewayError as err:
        response = render_error(err)
        response.headers.update(err.headers)
        return response
    return None


async def session(request: Request, ws: Any) -> None:
    """One connection: its messages, in order, until the client closes it."""
    local = MemoryStore(LOCAL_TTL, LOCAL_ANSWERS, LOCAL_BYTES)
    answered = 0

    async def failed(call: Call, err: GatewayError) -> None:
        await ws.send(error_message(err))

    try:
        while True:
            data = await ws.recv()
            if data is None:
                return
            raw = data.encode() if isinstance(data, str) else bytes(data)
            try:
                kind = _kind_decoder.decode(raw).type
            except (msgspec.DecodeError, msgspec.ValidationError):
                await ws.send(error_message(GatewayError("invalid_request", "expected a JSON object message")))
                continue
            if kind in IGNORED:
                continue
            if kind != "response.create":
                await ws.send(
                    error_message(
                        GatewayError(
                            "invalid_request", "unsupported message type; send `response.create`", param="type"
                        )
                    )
                )
                continue

            async def create(call: Call, raw: bytes = raw) -> None:
                await _create(request, ws, call, raw, local)

            answered += 1
            await wscall.run(request, "responses", create, failed)
    except Exception as err:
        if not wscall.closed_error(err):
            raise
    finally:
        await local.close()
        log.info("responses websocket closed after %d response.create message(s)", answered)


async def _create(request: Request, ws: Any, call: Call, raw: bytes, local: MemoryStore) -> None:
    try:
        body: wire.ResponsesRequest = _create_decoder.decode(raw)
    except msgspec.ValidationError as err:
        raise GatewayError("invalid_request", f"Invalid request: {err}") from None
    except msgspec.DecodeError as err:
        raise GatewayError("invalid_request", f"Malformed JSON in message: {err}") from None
    call.model = body.model
    store: ResponseStore | None = request.app.ctx.responses_store
    previous = body.previous_response_id
    history = None
    if previous:
        here = await local.get(previous) is not None
        history = await _history(local if here else store, previous)
    refs = await _refs(local, body.input) or {}
    if store is not None:
        refs.update(await _refs(store, body.input) or {})
    req, tmap, forced = codec_in.to_unified(body, history, refs)
    req.stream = True  # a WebSocket answer is always the event stream
    route = serve.resolve(call, request, body.model, session=(body.prompt_cache_key, body.user))
    _check_hosted(route, forced)
    keep = store is not None and body.store is not False
    answer = _Answer(call, codec_out.Envelope(body, keep, previous), tmap)
    stream = await streamed.open_stream(call, route, req)
    try:
        encoder = answer.stream_encoder(stream.target)
        try:
            if stream.deadline is None:
                await _pump(ws, stream, encoder)
            else:
                async with asyncio.timeout(max(0.0, stream.deadline - time.monotonic())):
                    await _pump(ws, stream, encoder)
        except TimeoutError:
            late = stream.deadline_error()
            call.status, call.error = late.status, late.message
            await _send(ws, encoder.error(late))
        except GatewayError as err:
            call.status, call.error = err.status, err.message
            await _send(ws, encoder.error(err))
    finally:
        await stream.close()
    final = answer.final
    if final is not None and call.status == 200:
        history_now = _own_history(req, body)
        await local.put(answer.env.id, final, history_now)
        if keep:
            assert store is not None
            await _keep(store, answer.env.id, final, history_now)


async def _pump(ws: Any, stream: StreamAnswer, encoder: Any) -> None:
    events = stream.head
    while events:
        parts: list[bytes] = []
        for event in events:
            if isinstance(event, StreamError):
                if parts:
                    await _send(ws, b"".join(parts))
                raise GatewayError(event.kind, event.message, status=event.status)
            data = encoder.feed(event)
            if data:
                parts.append(data)
        if parts:
            await _send(ws, b"".join(parts))
        events = await stream.read()


async def _send(ws: Any, data: bytes) -> None:
    for payload in sse_payloads(data):
        await ws.send(payload.decode())
