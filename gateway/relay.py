"""The forwarding lane's stream relay: an upstream stream opened by gateway.forward (up to its
first content) passed on to the client chunk by chunk as it arrives, usage and the end read on the side;
a failure mid-stream becomes the API's own in-stream error event."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from sanic import Request

from gateway import dispatch, shutdown
from gateway.call import Call
from gateway.circuit import counts_as_failure
from gateway.native import NativeApi, StreamScan
from gateway.response import Response
from gateway.router import Route, Target
from gateway.streaming import SSE_HEADERS
from unified.errors import GatewayError
from unified.provider import PASSED_RESPONSE_HEADERS
from unified.redact import cap_text


class Relay:
    """An upstream stream on the forwarding lane, opened up to its first content."""

    __slots__ = ("content_type", "head", "headers", "resp", "scan", "t0", "target")

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        head: list[bytes],
        scan: StreamScan,
        target: Target,
        t0: float,
    ) -> None:
        self.resp = resp
        self.head = head
        self.scan = scan
        self.target = target
        self.t0 = t0
        self.content_type = resp.headers.get("Content-Type", "text/event-stream")
        self.headers = passed_headers(resp)


_PASSED = tuple(sorted(PASSED_RESPONSE_HEADERS))


def passed_headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """The upstream's response headers a client is shown: a few case-insensitive lookups, not a look at
    every header the upstream sent (an OpenAI answer carries a dozen or more)."""
    headers = resp.headers
    out: dict[str, str] = {}
    for name in _PASSED:
        value = headers.get(name)
        if value is not None:
            out[name] = value
    return out


async def relay(request: Request, call: Call, route: Route, opened: Relay, api: NativeApi) -> None:
    """Pass an upstream stream on as it arrives, reading usage on the side."""
    headers = {**SSE_HEADERS, **opened.headers, "X-Request-ID": call.request_id, **call.route_headers()}
    response = await request.respond(Response(headers=headers, content_type=opened.content_type))
    send = response.send
    scan = opened.scan
    target = opened.target
    resp = opened.resp
    if call.first_token is None and opened.head:
        call.first_token = time.perf_counter()
    finished = False  # read to its end: the connection goes back to the pool
    ended = False  # the response's end is written
    try:
        if resp.content.at_eof():
            # The whole upstream answer came with its first content (a short answer arrives in one burst):
            # it goes out in one write with the response's end, not a write for it and one for the end.
            finished = True
            tail = scan.tail()
            data = b"".join([*opened.head, relayable(tail, scan, target)] if tail else opened.head)
            try:
                _settle(call, scan, target)
            except GatewayError:
                if data:
                    await send(data)
                raise
            await send(data, True)
            ended = True
        else:
            if opened.head:
                await send(b"".join(opened.head) if len(opened.head) > 1 else opened.head[0])
            if route.timeout:
                async with asyncio.timeout(max(0.0, route.timeout - (time.perf_counter() - call.started))):
                    await _pump(resp, scan, send, call, target)
            else:
                await _pump(resp, scan, send, call, target)
            finished = True
            tail = scan.tail()
            if tail:
                await send(relayable(tail, scan, target))
            _settle(call, scan, target)
    except (GatewayError, TimeoutError) as failure:
        err = (
            failure
            if isinstance(failure, GatewayError)
            else GatewayError("timeout", f"request deadline of {route.timeout:g}s exceeded mid-stream", status=504)
        )
        if counts_as_failure(err):
            target.circuit.failure(time.monotonic())
        call.status = err.status
        call.error = err.message
        await send(scan.boundary() + api.stream_error(call.model, err))
    except asyncio.CancelledError as cancel:
        if not shutdown.is_cut(cancel):
            call.status = 499  # the client went away: the upstream connection is closed below
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        cut = shutdown.cut_error()
        call.status = cut.status
        call.error = cut.message
        await send(scan.boundary() + api.stream_error(call.model, cut))
    finally:
        if scan.usage is not None:
            dispatch.record_usage(call, target, scan.usage)
        if call.trace is not None:
            call.trace.end_attempt(call)
        call.upstream_seconds += time.perf_counter() - opened.t0
        if finished:
            resp.release()
        else:
            resp.close()
        await target.cap.release()
    if not ended:
        await response.eof()


def _settle(call: Call, scan: StreamScan, target: Target) -> None:
    """After the upstream's last byte: its in-stream error is the call's, and a stream that stopped before
    its end marker is a failure (raised, for the relay to end the stream with an error event)."""
    if scan.error is not None:
        call.status = 502
        call.error = masked(scan.error, target)
    elif not scan.ended:
        raise GatewayError("upstream_unreachable", f"upstream {target.provider.name!r} ended the stream early")


async def _pump(resp: aiohttp.ClientResponse, scan: StreamScan, send: Any, call: Call, target: Target) -> None:
    name = target.provider.name
    read = resp.content.readany  # all that is buffered, in one await (iter_any adds an iterator layer a read)
    try:
        while chunk := await read():
            out = scan.feed(chunk)
            if call.first_token is None and scan.has_content(chunk):
                call.first_token = time.perf_counter()
            if out:
                await send(relayable(out, scan, target))
    except TimeoutError:  # the provider's own timeout (the model's deadline arrives as a cancellation)
        raise GatewayError("timeout", f"upstream {name!r} timed out mid-stream", status=504) from None
    except aiohttp.ClientError:
        raise GatewayError("upstream_unreachable", f"upstream {name!r} dropped the stream") from None


def masked(text: str, target: Target) -> str:
    """Upstream text bound for the client or the log: capped, the provider's keys masked."""
    return cap_text(target.provider.mask(text))


def relayable(out: bytes, scan: StreamScan, target: Target) -> bytes:
    """Relayed bytes that hold an upstream error event are masked: such an event may echo the request,
    key included. Content chunks pass untouched, never decoded."""
    if scan.error is not None or scan.may_hold_error(out):
        return target.provider.mask(out.decode("utf-8", "replace")).encode()
    return out
