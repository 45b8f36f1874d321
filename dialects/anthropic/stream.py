"""Unified stream Events -> the Anthropic Messages SSE event sequence."""

from __future__ import annotations

import msgspec

from dialects.anthropic.codec import STOP_REASON, message_id, usage_of
from dialects.anthropic.errors import error_object
from unified.errors import GatewayError
from unified.ids import safe_tool_id
from unified.types import (
    Event,
    Finish,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
)

_encode = msgspec.json.encode


# ---------------------------------------------------------------------------------------------- stream


def _sse(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


_PING = _sse(b"ping", b'{"type":"ping"}')
_MESSAGE_STOP = _sse(b"message_stop", b'{"type":"message_stop"}')
_TEXT_START = b',"content_block":{"type":"text","text":""}}'
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":'
_TEXT_DELTA = _DELTA_HEAD + b'{"type":"text_delta","text":'
_ARGS_DELTA = _DELTA_HEAD + b'{"type":"input_json_delta","partial_json":'
_DELTA_END = b"}}\n\n"
_MESSAGE_START = b'event: message_start\ndata: {"type":"message_start","message":{"id":'
_MESSAGE_MODEL = b',"type":"message","role":"assistant","model":'
_MESSAGE_USAGE = b',"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":'
_MESSAGE_END = b',"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}\n\n'
_THINKING_START = b',"content_block":{"type":"thinking","thinking":"","signature":""}}'


class EventEncoder:
    """Unified events -> Anthropic SSE: one block open at a time, blocks
    numbered 0.. in order, text blocks opened lazily on the first non-empty text, message_delta with the
    stop reason and full usage, then message_stop."""

    content_type = "text/event-stream; charset=utf-8"

    __slots__ = ("blocks", "index", "kind", "model", "next_index", "saw_call", "started", "text_at")

    def __init__(self, client_model: str) -> None:
        self.model = client_model
        self.started = False
        self.kind: str | None = None  # kind of the open block
        self.index = -1  # index of the open block
        self.next_index = 0
        self.blocks: dict[int, int] = {}  # unified tool-call index -> block index
        self.saw_call = False
        self.text_at = b""  # the open text block's delta event up to the encoded text

    def _start(self, upstream_id: str, input_tokens: int) -> bytes:
        self.started = True
        # The message object with its fixed fields written out: only id, model and input tokens vary.
        return b"%b%b%b%b%b%d%b" % (
            _MESSAGE_START,
            _encode(message_id(upstream_id)),
            _MESSAGE_MODEL,
            _encode(self.model),
            _MESSAGE_USAGE,
            input_tokens,
            _MESSAGE_END,
        )

    def _close(self) -> bytes:
        if self.kind is None:
            return b""
        self.kind = None
        return _sse(b"content_block_stop", b'{"type":"content_block_stop","index":' + str(self.index).encode() + b"}")

    def _open(self, kind: str, block: bytes) -> bytes:
        out = self._close()
        self.kind = kind
        self.index = self.next_index
        self.next_index += 1
        return out + _sse(
            b"content_block_start", b'{"type":"content_block_start","index":' + str(self.index).encode() + block
        )

    def _delta(self, index: int, delta: bytes) -> bytes:
        return _sse(
            b"content_block_delta",
            b'{"type":"content_block_delta","index":' + str(index).encode() + b',"delta":' + delta + b"}",
        )

    def feed(self, event: Event) -> bytes:
        kind = type(event)
        if kind is TextDelta and self.kind == "text":  # the hot path: more text for the open text block
            text = event.text  # type: ignore[union-attr]
            return self.text_at + _encode(text) + _DELTA_END if text else b""
        if kind is ToolCallDelta:
            index = self.blocks.get(event.index)  # type: ignore[union-attr]
            if index is not None:
                # Providers never interleave calls, so this is the open block; should a broken upstream send
                # a late fragment anyway, it goes to its own block index rather than being lost.
                arguments = event.arguments  # type: ignore[union-attr]
                return b"%b%b%b" % (_ARGS_DELTA % index, _encode(arguments), _DELTA_END) if arguments else b""
        out = b""
        if not self.started:
            if isinstance(event, Start):
                return self._start(event.id, event.input_tokens)
            out = self._start("", 0)
        if isinstance(event, TextDelta):
            if not event.text:
                return out
            if self.kind != "text":
                out += self._open("text", _TEXT_START)
                self.text_at = _TEXT_DELTA % self.index
            return out + self.text_at + _encode(event.text) + _DELTA_END
        if isinstance(event, ToolCallDelta):  # a fragment without its start: never from a correct provider
            return out
        if isinstance(event, ToolCallStart):
            self.saw_call = True
            block = {"type": "tool_use", "id": safe_tool_id(event.id), "name": event.name, "input": {}}
            out += self._open("tool_use", b',"content_block":' + _encode(block) + b"}")
            self.blocks[event.index] = self.index
            return out
        if isinstance(event, ThinkingDelta):
            if event.redacted is not None:
                out += self._open(
                    "redacted_thinking",
                    b',"content_block":' + _encode({"type": "redacted_thinking", "data": event.redacted}) + b"}",
                )
                return out + self._close()
            if self.kind != "thinking":
                if not event.text and not event.signature:
                    return out
                out += self._open("thinking", _THINKING_START)
            if event.text:
                out += self._delta(self.index, b'{"type":"thinking_delta","thinking":' + _encode(event.text) + b"}")
            if event.signature:
                out += self._delta(
                    self.index, b'{"type":"signature_delta","signature":' + _encode(event.signature) + b"}"
                )
            return out
        if isinstance(event, Finish):
            out += self._close()
            stop = "tool_use" if self.saw_call else STOP_REASON.get(event.stop_reason, "end_turn")
            delta = {"stop_reason": stop, "stop_sequence": event.stop_sequence if stop == "stop_sequence" else None}
            out += _sse(
                b"message_delta",
                b'{"type":"message_delta","delta":'
                + _encode(delta)
                + b',"usage":'
                + _encode(usage_of(event.usage))
                + b"}",
            )
            return out + _MESSAGE_STOP
        return out

    def error(self, err: GatewayError) -> bytes:
        return _sse(b"error", _encode({"type": "error", "error": error_object(err)}))

    def ping(self) -> bytes | None:
        return _PING
