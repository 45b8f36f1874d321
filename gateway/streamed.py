"""Opening a streamed answer on a route (through dispatch's retry engine) and reading it after.

A stream is opened up to its first content event, so anything that fails before the client saw a byte
(including a first token that comes too late) is still retried or turned into an ordinary HTTP error;
after the first byte nothing is retried (no double billing of an answered stream). What follows is read
in batches (`unified.provider.EventStream`): the writer in gateway.streaming runs the one loop from the
upstream socket to the client, and `StreamAnswer.read` does the per-batch bookkeeping in it."""

from __future__ import annotations

import asyncio
import time

from gateway import dropped
from gateway.call import Call
from gateway.circuit import counts_as_failure
from gateway.dispatch import _attempts, _upstream, record_usage
from gateway.router import Route, Target
from gateway.spend import estimate_cost
from unified.errors import GatewayError
from unified.provider import EventStream
from unified.redact import mask_error
from unified.types import Event, Finish, Request, Start, StreamError, TextDelta, ThinkingDelta, ToolCallStart

_CONTENT = (TextDelta, ThinkingDelta, ToolCallStart, Finish)
_TOKENS = _CONTENT[:3]  # content that times the first token


class StreamAnswer:
    """An upstream stream that has produced content: `head` (the events read while waiting for it), then
    `read()` batch by batch until []; `close()` settles upstream time, circuit, concurrency slot, trace."""

    __slots__ = (
        "call",
        "captured",
        "closed",
        "deadline",
        "failure",
        "head",
        "req",
        "route",
        "stream",
        "t0",
        "target",
    )

    def __init__(
        self,
        call: Call,
        route: Route,
        target: Target,
        stream: EventStream,
        head: list[Event],
        t0: float,
        deadline: float | None,
        req: Request,
    ) -> None:
        self.call = call
        self.route = route
        self.target = target
        self.stream = stream
        self.head = head
        self.t0 = t0
        self.deadline = deadline  # time.monotonic() by which the whole request must be done, or None
        self.closed = False
        self.failure: GatewayError | None = None  # what the upstream side failed with (for the circuit)
        self.req = req
        # Streamed text: for the trace (with capture_content), and for a budget, so that a stream cut short
        # before its usage arrived is still charged an estimate.
        captured = call.trace.output if call.trace is not None else None
        if captured is None and call.budget is not None:
            captured = []
        self.captured: list[str] | None = captured
        self._note(head, False)

    async def read(self) -> list[Event]:
        try:
            events = await self.stream.read()
        except GatewayError as err:
            mask_error(err, getattr(self.target.provider, "redact", None))  # upstream text: keys masked
            self.failure = err
            raise
        self._note(events, True)
        return events

    def _note(self, events: list[Event], first_token: bool) -> None:
        """Usage from the Finish, the time of the first token, the text for the trace."""
        call = self.call
        captured = self.captured
        if captured is None and (not first_token or call.first_token is not None):  # only the Finish matters
            for event in events:
                if type(event) is Finish:
                    record_usage(call, self.target, event.usage)
            return
        for event in events:
            if isinstance(event, TextDelta):
                if first_token and call.first_token is None:
                    call.first_token = time.perf_counter()
                if captured is not None:
                    captured.append(event.text)
            elif isinstance(event, Finish):
                record_usage(call, self.target, event.usage)
            elif first_token and call.first_token is None and isinstance(event, ToolCallStart):
                call.first_token = time.perf_counter()

    def ends(self, events: list[Event]) -> bool:
        """True when the batch just read is the stream's last: it ends with the Finish and the upstream
        stream is done (read to its end marker, no error held back), so the client's response can end
        with it."""
        stream = self.stream
        return type(events[-1]) is Finish and getattr(stream, "done", False) and getattr(stream, "error", 0) is None

    def deadline_error(self) -> GatewayError:
        route = self.route
        self.failure = GatewayError(
            "timeout",
            f"request deadline of {route.timeout:g}s for model {route.name!r} exceeded mid-stream",
            status=504,
        )
        return self.failure

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        call, target = self.call, self.target
        error = self.failure
        if error is not None and counts_as_failure(error):
            target.circuit.failure(time.monotonic())
        call.upstream_seconds += time.perf_counter() - self.t0
        if call.cost is None and call.budget is not None and target.rates is not None and self.captured is not None:
            first = self.head[0] if self.head else None
            known = first.input_tokens if isinstance(first, Start) else 0
            call.cost = estimate_cost(target.rates, self.req, self.captured, known)
        if call.trace is not None:
            call.trace.end_attempt(call)
        try:
            await self.stream.close()
        except Exception:
            pass
        finally:
            await target.cap.release()


async def open_stream(call: Call, route: Route, req: Request) -> StreamAnswer:
    """Start the upstream stream and wait for its first content event (within `first_token_timeout`)."""
    call.stream = True

    async def attempt(
        target: Target, req_: Request | None, deadline: float | None
    ) -> tuple[list[Event], EventStream, Target, float]:
        assert req_ is not None
        await target.cap.acquire(target.provider.name, deadline)
        up = _upstream(call, route, deadline)
        t0 = time.perf_counter()
        stream: EventStream | None = None
        buffered: list[Event] = []
        try:
            limit = route.first_token_timeout
            if deadline is not None:
                remaining = max(0.0, deadline - time.monotonic())
                limit = remaining if limit is None else min(limit, remaining)
            if limit is None:
                stream = await target.provider.open_stream(req_, target.model, up)
                await _until_content(stream, buffered)
            else:
                try:
                    async with asyncio.timeout(limit):
                        stream = await target.provider.open_stream(req_, target.model, up)
                        await _until_content(stream, buffered)
                except TimeoutError:
                    raise GatewayError(
                        "timeout", f"no first token from {target.label} within {limit:g}s", status=504
                    ) from None
        except BaseException:
            call.upstream_seconds += time.perf_counter() - t0
            if stream is not None:
                try:
                    await stream.close()
                except Exception:
                    pass
            await target.cap.release()
            raise
        return buffered, stream, target, t0

    started = time.monotonic()
    buffered, stream, target, t0 = await _attempts(call, route, req, attempt)
    dropped.count(call, target, req.droppable)
    if call.trace is not None:
        call.trace.answered(req, buffered[0].model if isinstance(buffered[0], Start) else "")
    if call.first_token is None and any(isinstance(e, _TOKENS) for e in buffered):
        call.first_token = time.perf_counter()
    # The whole-request deadline also bounds the stream after its first byte.
    deadline = started + route.timeout if route.timeout else None
    return StreamAnswer(call, route, target, stream, buffered, t0, deadline, req)


async def _until_content(stream: EventStream, buffered: list[Event]) -> None:
    while True:
        events = await stream.read()
        if not events:
            break
        for i, event in enumerate(events):
            if type(event) is StreamError:
                raise GatewayError(event.kind, event.message, status=event.status)
            buffered.append(event)
            if isinstance(event, _CONTENT):
                buffered.extend(events[i + 1 :])  # the rest of the batch goes out with the first write
                return
    if not buffered:
        raise GatewayError("api_error", "upstream ended the stream before sending anything", status=502)
