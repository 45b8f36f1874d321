"""The wrapper every dialect endpoint runs in: request id, in-flight gauge, errors rendered in the
dialect's shape, one access-log line and the request metrics at the end, whatever happened."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from gateway import shutdown
from gateway.call import Call
from gateway.edge import require_json
from gateway.spend import format_usd
from unified.errors import GatewayError

log = logging.getLogger("llm_link")

ErrorRenderer = Callable[[GatewayError], HTTPResponse]
Handler = Callable[..., Awaitable[HTTPResponse | None]]


def endpoint(dialect: str, render_error: ErrorRenderer) -> Callable[[Handler], Handler]:
    def decorate(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
            ctx = request.app.ctx
            # The call is not put on request.ctx: nothing reads it there, and making that namespace costs 0.15 µs.
            call = Call(request.headers.get("x-request-id"), dialect)
            tracing = ctx.tracing  # gateway.tracing.Tracing, None without `telemetry:`
            if tracing is not None:
                call.trace = tracing.start(request, call)
            metrics = call.metrics = ctx.metrics
            gauge = metrics.in_flight_for(dialect)
            gauge.inc()
            guard = ctx.guard  # gateway.auth.Guard, None without `auth:` in the config
            ticket = None
            cancelled = False
            inflight = ctx.inflight  # for the drain deadline (gateway.shutdown)
            task = asyncio.current_task()
            inflight[task] = call
            response: HTTPResponse | None
            try:
                if guard is not None:
                    ticket = await guard.enter(request, call)
                response = await fn(request, call, *args, **kwargs)
            except GatewayError as err:
                call.status = err.status
                call.error = err.message
                response = render_error(err)
                response.headers.update(err.headers)
            except asyncio.CancelledError as cancel:
                if not shutdown.is_cut(cancel):
                    call.status = 499
                    cancelled = True
                    raise
                task.uncancel()  # type: ignore[union-attr]
                cut = shutdown.cut_error()
                call.status = cut.status
                call.error = cut.message
                response = render_error(cut)
            except Exception as err:
                log.exception("request %s failed", call.request_id)
                call.status = 500
                call.error = type(err).__name__
                response = render_error(GatewayError("api_error", "internal error"))
            finally:
                gauge.dec()
                del inflight[task]
                if guard is not None:
                    await guard.leave(call, ticket, cancelled)
                if ctx.draining:
                    request.stream.keep_alive = False  # type: ignore[union-attr]  # let the drain finish
                call.finish(metrics, ctx.access_log)
                if call.trace is not None:
                    call.trace.end(call)
                if ctx.database is not None and request.method != "GET":  # usage rows (gateway.store.usage)
                    ctx.database.record(call)
            if response is not None:
                headers = response.headers
                headers["X-Request-ID"] = call.request_id
                if call.limit_headers:
                    headers.update(call.limit_headers)
                if call.target is not None:
                    headers["X-LLM-Link-Provider"] = call.target
                    headers["X-LLM-Link-Attempts"] = str(call.attempts)
                # Every non-streaming answer says what the gateway itself cost (all of it when no upstream
                # was involved, as for listings and errors).
                headers["X-LLM-Link-Overhead-Ms"] = f"{call.overhead_seconds(time.perf_counter()) * 1000:.3f}"
                if call.cost is not None:
                    headers["X-LLM-Link-Cost-USD"] = format_usd(call.cost)
            return response

        return wrapped

    return decorate


def decode_body(
    request: Request, type_: Any, decoder: msgspec.json.Decoder | None = None, *, curl_ok: bool = False
) -> Any:
    """Decode the body straight from bytes into a wire struct; a violation is a 400 naming the field.
    The body must be sent as application/json (415 otherwise, gateway.edge.require_json); a dialect whose
    clients send bare `curl -d` bodies passes `curl_ok` (accepted without an Origin: not from a browser)."""
    require_json(request, curl_ok)
    body = request.body
    if not body:
        raise GatewayError("invalid_request", "request body is empty; expected a JSON object")
    try:
        if decoder is not None:
            return decoder.decode(body)
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as err:
        text = str(err)
        param = None
        if " - at `$" in text:
            text, _, where = text.partition(" - at `$")
            param = where.rstrip("`").lstrip(".")
            text = f"{text} at `{param}`" if param else text
        raise GatewayError("invalid_request", f"Invalid request: {text}", param=param or _missing_field(text)) from None
    except msgspec.DecodeError as err:
        raise GatewayError("invalid_request", f"Malformed JSON in request body: {err}") from None
    except RecursionError:  # msgspec's depth guard: a hostile body, not a server fault
        raise GatewayError("invalid_request", "Malformed JSON in request body: nested too deeply") from None
    except UnicodeDecodeError:  # msgspec lets invalid UTF-8 inside a string through as this
        raise GatewayError("invalid_request", "Malformed JSON in request body: invalid UTF-8") from None


def _missing_field(text: str) -> str | None:
    if "missing required field `" in text:
        return text.split("`")[1]
    return None
