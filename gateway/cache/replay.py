"""A cached answer is a unified Response: replayed as the events of a stream for a streaming client (any
dialect encodes them as it would an upstream's), and rebuilt from a stream's events when a streamed answer
is stored."""

from __future__ import annotations

from gateway.streamed import StreamAnswer
from gateway.streaming import StreamEncoder
from unified.errors import GatewayError
from unified.types import (
    Event,
    Finish,
    Part,
    Response,
    Start,
    StreamError,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    Usage,
)


def events_of(response: Response) -> list[Event]:
    """The stream an upstream would have sent for `response`: Start, one delta per part, Finish."""
    events: list[Event] = [Start(id=response.id, model=response.model, input_tokens=response.usage.input_tokens)]
    index = 0
    for part in response.content:
        if isinstance(part, TextPart):
            events.append(TextDelta(part.text))
        elif isinstance(part, ThinkingPart):
            events.append(ThinkingDelta(part.text, part.signature, part.redacted, part.encrypted))
        elif isinstance(part, ToolCallPart):
            events.append(ToolCallStart(index, part.id, part.name))
            events.append(ToolCallDelta(index, part.arguments))
            index += 1
    events.append(Finish(response.stop_reason, response.usage, response.stop_sequence))
    return events


def replayable(response: Response) -> bool:
    """Only parts a stream can carry are stored, so a hit replays the same answer either way."""
    return all(isinstance(p, TextPart | ThinkingPart | ToolCallPart) for p in response.content)


class ReplayAnswer(StreamAnswer):
    """A stored answer in the shape gateway.streaming writes: every event in the head, nothing upstream."""

    __slots__ = ()

    def __init__(self, events: list[Event]) -> None:  # no upstream, so none of StreamAnswer's bookkeeping
        self.head = events
        self.deadline = None
        self.closed = False

    async def read(self) -> list[Event]:
        return []

    def ends(self, events: list[Event]) -> bool:  # the head is the whole answer
        return True

    def deadline_error(self) -> GatewayError:  # there is no deadline to miss
        return GatewayError("timeout", "cached answer", status=504)

    async def close(self) -> None:
        self.closed = True


class Recorder:
    """A dialect's stream encoder with the events kept on the side, so a stream that completed can be
    stored as the Response it was. Stops keeping (and the answer is not stored) past `limit` characters."""

    __slots__ = ("_inner", "content", "content_type", "failed", "finish", "limit", "size", "start", "tools")

    def __init__(self, inner: StreamEncoder, limit: int) -> None:
        self._inner = inner
        self.content_type = inner.content_type
        self.limit = limit
        self.size = 0
        self.start: Start | None = None
        self.finish: Finish | None = None
        self.failed = False
        self.content: list[Part] = []
        self.tools: dict[int, ToolCallPart] = {}

    def feed(self, event: Event) -> bytes:
        if not self.failed:
            self._keep(event)
        return self._inner.feed(event)

    def error(self, err: GatewayError) -> bytes:
        self.failed = True
        return self._inner.error(err)

    def ping(self) -> bytes | None:
        return self._inner.ping()

    def _keep(self, event: Event) -> None:
        content = self.content
        last = content[-1] if content else None
        if isinstance(event, TextDelta):
            self.size += len(event.text)
            if isinstance(last, TextPart):
                last.text += event.text
            else:
                content.append(TextPart(event.text))
        elif isinstance(event, ToolCallDelta):
            call = self.tools.get(event.index)
            if call is None:
                self.failed = True
                return
            self.size += len(event.arguments)
            call.arguments += event.arguments
        elif isinstance(event, ToolCallStart):
            call = ToolCallPart(event.id, event.name, "")
            self.tools[event.index] = call
            content.append(call)
        elif isinstance(event, ThinkingDelta):
            self.size += len(event.text) + len(event.redacted or "") + len(event.encrypted or "")
            # One reasoning item / thinking block until something else comes (its opaque payload may
            # arrive with its last delta); a redacted block is always a part of its own.
            if (
                isinstance(last, ThinkingPart)
                and not (event.redacted or last.redacted)
                and not (event.encrypted and last.encrypted)
            ):
                last.text += event.text
                if event.signature:
                    last.signature = (last.signature or "") + event.signature
                if event.encrypted:
                    last.encrypted = event.encrypted
            else:
                content.append(ThinkingPart(event.text, event.signature, event.redacted, event.encrypted))
        elif isinstance(event, Start):
            self.start = event
        elif isinstance(event, Finish):
            self.finish = event
        elif isinstance(event, StreamError):
            self.failed = True
        if self.size > self.limit:
            self.failed = True

    def response(self) -> Response | None:
        """The whole answer, when the stream ended with its Finish and nothing went wrong."""
        if self.failed or self.start is None or self.finish is None:
            return None
        for call in self.tools.values():
            if not call.arguments:
                call.arguments = "{}"
        f = self.finish
        usage = f.usage if f.usage is not None else Usage()
        return Response(self.start.id, self.start.model, self.content, f.stop_reason, f.stop_sequence, usage)
