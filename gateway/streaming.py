"""Writing a unified event stream to the client through a dialect's encoder: chunk by chunk, keep-alive
pings while the upstream is silent, the dialect's error event on a failure after the first byte, and the
upstream cancelled at once when the client goes away (Sanic cancels the handler task)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from sanic import Request

from gateway import shutdown
from gateway.call import Call
from unified.errors import GatewayError
from unified.types import Event, Flush, StreamError

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
    request: Request,
    call: Call,
    first: Event,
    events: AsyncIterator[Event],
    encoder: StreamEncoder,
    headers: dict[str, str],
    batch: bool = False,
) -> None:
    """`batch`: the provider marks bursts with Flush (Provider.flushes), so writes wait for each Flush."""
    headers = {**SSE_HEADERS, **headers, "X-Request-ID": call.request_id, **call.route_headers()}
    response = await request.respond(headers=headers, content_type=encoder.content_type)
    send = response.send
    pinger: Pinger | None = getattr(request.app.ctx, "pinger", None)
    ping = encoder.ping()
    idle = [time.monotonic()]  # when this stream last wrote; the pinger reads it
    key = id(response)
    if pinger is not None and ping:
        pinger.streams[key] = (response, ping, idle)
    # With a provider that marks bursts, encoded events wait in `pending` until it says the upstream has
    # nothing more buffered (a Flush), so a burst is one write; other providers' events go out one by one.
    pending: list[bytes] = []
    batching = batch
    try:
        data = encoder.feed(first)
        if data:
            await send(data)
        async for event in events:
            if isinstance(event, Flush):
                if pending:
                    idle[0] = time.monotonic()
                    await send(b"".join(pending) if len(pending) > 1 else pending[0])
                    pending.clear()
                continue
            if isinstance(event, StreamError):
                raise GatewayError(event.kind, event.message, status=event.status)
            data = encoder.feed(event)
            if data:
                if batching:
                    pending.append(data)
                    if len(pending) < 256:
                        continue
                    data = b"".join(pending)
                    pending.clear()
                idle[0] = time.monotonic()
                await send(data)
        if pending:
            await send(b"".join(pending))
            pending.clear()
    except GatewayError as err:
        if pending:
            await send(b"".join(pending))
            pending.clear()
        call.status = err.status
        call.error = err.message
        await send(encoder.error(err))
    except asyncio.CancelledError as cancel:
        if not shutdown.is_cut(cancel):
            call.status = 499  # the client went away; the upstream request is closed by the generator's finally
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        cut = shutdown.cut_error()  # the graceful shutdown deadline: end with the dialect's error event
        call.status = cut.status
        call.error = cut.message
        await send(encoder.error(cut))
    except Exception as err:
        log.exception("stream failed: %s", type(err).__name__)
        call.status = 500
        call.error = type(err).__name__
        await send(encoder.error(GatewayError("api_error", "internal error while streaming")))
    finally:
        if pinger is not None:
            pinger.streams.pop(key, None)
        # Close the upstream now (not when the generator is collected) if we stopped early.
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    await response.eof()


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
