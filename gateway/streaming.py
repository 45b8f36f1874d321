"""Writing a unified event stream to the client through a dialect's encoder: chunk by chunk, keep-alive
pings while the upstream is silent, the dialect's error event on a failure after the first byte, and the
upstream cancelled at once when the client goes away (Sanic cancels the handler task)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from sanic import Request

from gateway import shutdown
from gateway.call import Call
from gateway.response import Response
from gateway.streamed import StreamAnswer
from unified.errors import GatewayError
from unified.types import Event, StreamError

log = logging.getLogger("llm_link")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class StreamEncoder(Protocol):
    content_type: str

    def feed(self, event: Event) -> bytes:
        """Bytes for one unified event (may be empty)."""

    def error(self, err: GatewayError) -> bytes:
        """The dialect's in-stream error, ending the stream."""

    def ping(self) -> bytes | None:
        """A keep-alive the dialect allows, or None."""


async def send_stream(
    request: Request, call: Call, answer: StreamAnswer, encoder: StreamEncoder, headers: dict[str, str]
) -> None:
    """The one loop of a stream: read a batch from the upstream, encode it, write it in one send."""
    headers = {**SSE_HEADERS, **headers, "X-Request-ID": call.request_id, **call.route_headers()}
    response = await request.respond(Response(headers=headers, content_type=encoder.content_type))
    send = response.send
    pinger: Pinger | None = getattr(request.app.ctx, "pinger", None)
    ping = encoder.ping()
    idle = [time.monotonic()]  # when this stream last wrote; the pinger reads it
    key = id(response)
    if pinger is not None and ping:
        pinger.streams[key] = (response, ping, idle)
    try:
        if answer.deadline is None:
            await _pump(answer, encoder.feed, send, idle)
        else:
            loop_deadline = asyncio.get_running_loop().time() + (answer.deadline - time.monotonic())
            try:
                async with asyncio.timeout_at(loop_deadline):  # one timer for the whole stream
                    await _pump(answer, encoder.feed, send, idle)
            except TimeoutError:
                raise answer.deadline_error() from None
    except GatewayError as err:
        call.status = err.status
        call.error = err.message
        await send(encoder.error(err))
    except asyncio.CancelledError as cancel:
        if not shutdown.is_cut(cancel):
            call.status = 499  # the client went away; the upstream is closed below
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        cut = shutdown.cut_error()  # the graceful shutdown deadline: end with the dialect's error event
        call.status = cut.status
        call.error = cut.message
        await send(encoder.error(cut))
    except Exception as exc:
        log.exception("stream failed: %s", type(exc).__name__)
        call.status = 500
        call.error = type(exc).__name__
        await send(encoder.error(GatewayError("api_error", "internal error while streaming")))
    finally:
        if pinger is not None:
            pinger.streams.pop(key, None)
        await answer.close()  # the upstream is released now, not when something is collected
    await response.eof()


async def _pump(answer: StreamAnswer, feed: Any, send: Any, idle: list[float]) -> None:
    """Batches from the upstream, encoded and written one send per batch (a burst is one write). The batch
    that ends the stream carries the end of the response too (one write, not a second one for the eof)."""
    events = answer.head
    while events:
        parts: list[bytes] = []
        for event in events:
            if type(event) is StreamError:
                if parts:
                    await send(b"".join(parts))
                raise GatewayError(event.kind, event.message, status=event.status)
            data = feed(event)
            if data:
                parts.append(data)
        last = answer.ends(events)
        if parts:
            idle[0] = time.monotonic()
            await send(parts[0] if len(parts) == 1 else b"".join(parts), last)
        if last:
            return
        events = await answer.read()


class Pinger:
    """One task per worker sends keep-alives to every stream whose upstream has been silent for
    `interval` seconds (thinking models, model loads), instead of a timer task per stream."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.streams: dict[int, tuple[Any, bytes, list[float]]] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.interval))
            now = time.monotonic()
            for response, ping, idle in list(self.streams.values()):
                if now - idle[0] >= self.interval:
                    idle[0] = now
                    try:
                        await response.send(ping)
                    except Exception:
                        pass
