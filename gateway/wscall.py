"""One model call that arrives as a WebSocket message (Responses over WebSocket): the same bookkeeping as
an HTTP endpoint (gateway.handler) — request id, in-flight gauge, the key's limits admitted for this
message, one access-log line, metrics, usage row and spend at the end — without an HTTP response."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sanic import Request

from gateway import shutdown
from gateway.call import Call
from unified.errors import GatewayError

log = logging.getLogger("llm_link")


class MessageRequest:
    """What the key check reads, for one message on an upgraded connection: the handshake's headers and
    query, as a model call (a GET would be taken for a listing, which no limit counts)."""

    __slots__ = ("app", "args", "headers", "method")

    def __init__(self, request: Request) -> None:
        self.app = request.app
        self.headers = request.headers
        self.args = request.args
        self.method = "POST"


async def run(
    request: Request,
    dialect: str,
    fn: Callable[[Call], Awaitable[None]],
    on_error: Callable[[Call, GatewayError], Awaitable[None]],
) -> None:
    """Run `fn` as one call; a GatewayError (before or during the answer) goes to `on_error`. A closed
    connection or a cancellation propagates after the call is recorded."""
    ctx = request.app.ctx
    call = Call(None, dialect)
    tracing = ctx.tracing
    if tracing is not None:
        call.trace = tracing.start(request, call)
    metrics = call.metrics = ctx.metrics
    gauge = metrics.child(metrics.in_flight, dialect)
    gauge.inc()
    guard = ctx.guard
    ticket = None
    cancelled = False
    task = asyncio.current_task()
    ctx.inflight[task] = call
    try:
        if guard is not None:
            ticket = await guard.enter(MessageRequest(request), call)
        await fn(call)
    except GatewayError as err:
        call.status = err.status
        call.error = err.message
        await on_error(call, err)
    except asyncio.CancelledError as cancel:
        if not shutdown.is_cut(cancel):
            call.status = 499
            cancelled = True
            raise
        task.uncancel()  # type: ignore[union-attr]
        cut = shutdown.cut_error()
        call.status = cut.status
        call.error = cut.message
        await on_error(call, cut)
    except Exception as err:
        if closed_error(err):
            call.status = 499
            cancelled = True
            raise
        log.exception("websocket message %s failed", call.request_id)
        call.status = 500
        call.error = type(err).__name__
        await on_error(call, GatewayError("api_error", "internal error"))
    finally:
        gauge.dec()
        ctx.inflight.pop(task, None)
        if guard is not None:
            await guard.leave(call, ticket, cancelled)
        call.finish(metrics, ctx.access_log)
        if call.trace is not None:
            call.trace.end(call)
        if ctx.database is not None:
            ctx.database.record(call)


def closed_error(err: BaseException) -> bool:
    """Whether an exception means the client's connection is gone."""
    from websockets.exceptions import ConnectionClosed

    return isinstance(err, ConnectionClosed)
