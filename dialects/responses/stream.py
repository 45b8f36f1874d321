"""Unified events -> the Responses API's SSE event sequence.

One item is open at a time (a reasoning item, a message, or one tool call); a different kind of content
closes it (its `.done` events and `response.output_item.done`, the record Codex keeps) and opens the next
at the next `output_index`. `response.created` and `response.in_progress` come first, and the stream always
ends with `response.completed`, `response.incomplete` or `response.failed` carrying the whole output.
Events are built by joining pre-encoded bytes: only deltas are encoded per event."""

from __future__ import annotations

import msgspec

from dialects.responses.codec_in import seal
from dialects.responses.codec_out import (
    Envelope,
    call_item,
    item_ids,
    message_item,
    reasoning_item,
    status_of,
    text_part,
    usage_json,
)
from dialects.responses.tools import InputStream, ToolMap, custom_input
from unified.errors import GatewayError
from unified.types import (
    Event,
    Finish,
    Start,
    TextDelta,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallStart,
)

_encode = msgspec.json.encode


def _head(kind: str) -> bytes:
    return b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode() + b'","sequence_number":'


CREATED = _head("response.created")
IN_PROGRESS = _head("response.in_progress")
COMPLETED = _head("response.completed")
INCOMPLETE = _head("response.incomplete")
FAILED = _head("response.failed")
ITEM_ADDED = _head("response.output_item.added")
ITEM_DONE = _head("response.output_item.done")
PART_ADDED = _head("response.content_part.added")
PART_DONE = _head("response.content_part.done")
TEXT_DELTA = _head("response.output_text.delta")
TEXT_DONE = _head("response.output_text.done")
ARGS_DELTA = _head("response.function_call_arguments.delta")
ARGS_DONE = _head("response.function_call_arguments.done")
INPUT_DELTA = _head("response.custom_tool_call_input.delta")
INPUT_DONE = _head("response.custom_tool_call_input.done")
SUMMARY_PART_ADDED = _head("response.reasoning_summary_part.added")
SUMMARY_PART_DONE = _head("response.reasoning_summary_part.done")
SUMMARY_DELTA = _head("response.reasoning_summary_text.delta")
SUMMARY_DONE = _head("response.reasoning_summary_text.done")
END = b"}\n\n"
TEXT_TAIL = b',"logprobs":[]}\n\n'

NONE, MESSAGE, REASONING, CALL = 0, 1, 2, 3
_SEQS = 1024
_SEQ = [b"%d" % n for n in range(_SEQS)]  # sequence numbers, formatted once per worker
_FAILED_CODES = {"rate_limit": "rate_limit_exceeded", "overloaded": "server_is_overloaded"}


class ResponsesEncoder:
    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, env: Envelope, tmap: ToolMap) -> None:
        self.env = env
        self.tmap = tmap
        self.stem = item_ids(env.id)
        self.seq = 0
        self.items: list[bytes] = []  # finished items, for the final response
        self.open = NONE
        self.item_id = ""
        self.loc = b""  # ',"item_id":"…","output_index":N' of the open item
        self.delta_at = b""
        self.chunks: list[str] = []  # text / summary / arguments of the open item
        # the open call
        self.call_id = ""
        self.name = ""
        self.namespace: str | None = None
        self.custom = False
        self.input = InputStream()  # the open custom call's input, unwrapped as it streams
        # the open reasoning item
        self.summary_open = False
        self.signature: str | None = None
        self.redacted: str | None = None
        self.encrypted: str | None = None
        self.final: bytes | None = None  # the whole response object once the stream ended

    def _ev(self, head: bytes, body: bytes) -> bytes:
        seq = self.seq
        self.seq = seq + 1
        return b"".join((head, _SEQ[seq] if seq < _SEQS else b"%d" % seq, body, END))

    # -------------------------------------------------------------------------------------- items

    def _open(self, kind: int, prefix: str) -> None:
        index = len(self.items)
        self.open = kind
        self.item_id = f"{prefix}_{self.stem}{index}"
        self.loc = b',"item_id":"' + self.item_id.encode() + b'","output_index":%d' % index
        # what follows the sequence number in this item's delta events, up to the encoded delta
        self.delta_at = self.loc + (b',"content_index":0,"delta":' if kind == MESSAGE else b',"delta":')
        self.chunks = []

    def _added(self, item: bytes) -> bytes:
        return self._ev(ITEM_ADDED, b',"output_index":%d,"item":' % len(self.items) + item)

    def _open_message(self) -> bytes:
        self._open(MESSAGE, "msg")
        out = self._added(message_item(self.item_id, "", "in_progress"))
        return out + self._ev(PART_ADDED, self.loc + b',"content_index":0,"part":' + text_part(""))

    def _open_reasoning(self) -> bytes:
        self._open(REASONING, "rs")
        self.summary_open = False
        self.signature = self.redacted = self.encrypted = None
        return self._added(reasoning_item(self.item_id, None, None))

    def _close(self, status: str = "completed") -> bytes:
        """The open item's `.done` events; `status` is "incomplete" when the answer was cut off in it."""
        kind = self.open
        if kind == NONE:
            return b""
        self.open = NONE
        index = b',"output_index":%d,"item":' % len(self.items)
        if kind == MESSAGE:
            text = "".join(self.chunks)
            quoted = _encode(text)
            part = text_part(text, quoted)
            item = message_item(self.item_id, text, status, part)
            out = self._ev(TEXT_DONE, self.loc + b',"content_index":0,"text":' + quoted + b',"logprobs":[]')
            out += self._ev(PART_DONE, self.loc + b',"content_index":0,"part":' + part)
        elif kind == REASONING:
            text = "".join(self.chunks)
            out = b""
            if self.summary_open:
                quoted = _encode(text)
                out = self._ev(SUMMARY_DONE, self.loc + b',"summary_index":0,"text":' + quoted)
                out += self._ev(
                    SUMMARY_PART_DONE,
                    self.loc + b',"summary_index":0,"part":{"type":"summary_text","text":' + quoted + b"}",
                )
            encrypted = None
            if self.env.include_encrypted:
                encrypted = seal(
                    ThinkingPart(text=text, signature=self.signature, redacted=self.redacted, encrypted=self.encrypted)
                )
            item = reasoning_item(self.item_id, text or None, encrypted)
        else:
            payload = "".join(self.chunks)
            if self.custom:
                payload = custom_input(payload)
                rest = self.input.rest(payload)  # all of it when the arguments were not {"input": ...}
                out = self._ev(INPUT_DELTA, self.loc + b',"delta":' + _encode(rest)) if rest else b""
                out += self._ev(INPUT_DONE, self.loc + b',"input":' + _encode(payload))
            else:
                out = self._ev(ARGS_DONE, self.loc + b',"arguments":' + _encode(payload))
            item = call_item(self.item_id, self.call_id, self.name, self.namespace, self.custom, payload, "completed")
        out += self._ev(ITEM_DONE, index + item)
        self.items.append(item)
        return out

    # -------------------------------------------------------------------------------------- events

    def feed(self, event: Event) -> bytes:
        kind = type(event)
        if kind is TextDelta:  # the hot path: one join of pre-encoded pieces and the encoded text
            text = event.text  # type: ignore[union-attr]
            self.chunks.append(text)
            if self.open == MESSAGE:
                seq = self.seq
                self.seq = seq + 1
                return b"".join(
                    (TEXT_DELTA, _SEQ[seq] if seq < _SEQS else b"%d" % seq, self.delta_at, _encode(text), TEXT_TAIL)
                )
            self.chunks.pop()  # it belongs to the message opened now
            out = self._close() + self._open_message()
            self.chunks.append(text)
            return out + self._ev(TEXT_DELTA, self.delta_at + _encode(text) + b',"logprobs":[]')
        if kind is ToolCallDelta:
            arguments = event.arguments  # type: ignore[union-attr]
            self.chunks.append(arguments)
            if self.custom:
                text = self.input.feed(arguments)
                return self._ev(INPUT_DELTA, self.loc + b',"delta":' + _encode(text)) if text else b""
            seq = self.seq
            self.seq = seq + 1
            return b"".join(
                (ARGS_DELTA, _SEQ[seq] if seq < _SEQS else b"%d" % seq, self.delta_at, _encode(arguments), END)
            )
        if isinstance(event, ThinkingDelta):
            out = b""
            if self.open != REASONING:
                out = self._close() + self._open_reasoning()
            if event.text:
                if not self.summary_open:
                    self.summary_open = True
                    out += self._ev(
                        SUMMARY_PART_ADDED, self.loc + b',"summary_index":0,"part":{"type":"summary_text","text":""}'
                    )
                self.chunks.append(event.text)
                out += self._ev(SUMMARY_DELTA, self.loc + b',"summary_index":0,"delta":' + _encode(event.text))
            if event.signature:
                self.signature = event.signature
            if event.redacted:
                self.redacted = event.redacted
            if event.encrypted:
                self.encrypted = event.encrypted
            return out
        if isinstance(event, ToolCallStart):
            out = self._close()
            custom = self.tmap.is_custom(event.name)
            self._open(CALL, "ctc" if custom else "fc")
            self.custom = custom
            if custom:
                self.input = InputStream()
            self.call_id = event.id
            self.namespace, self.name = self.tmap.split(event.name)
            return out + self._added(
                call_item(self.item_id, event.id, self.name, self.namespace, custom, "", "in_progress")
            )
        if isinstance(event, Start):
            in_progress = b',"response":' + self.env.render(b'"in_progress"')
            return self._ev(CREATED, in_progress) + self._ev(IN_PROGRESS, in_progress)
        if isinstance(event, Finish):
            status, incomplete = status_of(event.stop_reason)
            item_status = "completed" if status == b'"completed"' else "incomplete"
            out = self._close(item_status)
            if not self.items:  # an empty answer is still one (empty) message, as the API gives
                out += self._open_message() + self._close(item_status)
            self.final = self.env.render(
                status, b"[" + b",".join(self.items) + b"]", usage_json(event.usage), incomplete
            )
            head = COMPLETED if status == b'"completed"' else INCOMPLETE
            return out + self._ev(head, b',"response":' + self.final)
        return b""

    def error(self, err: GatewayError) -> bytes:
        code = err.code or _FAILED_CODES.get(err.kind, "server_error")
        error = b'{"code":' + _encode(code) + b',"message":' + _encode(err.message) + b"}"
        self.open = NONE  # an unfinished item is not part of the record
        output = b"[" + b",".join(self.items) + b"]"
        return self._ev(FAILED, b',"response":' + self.env.render(b'"failed"', output, error=error))

    def ping(self) -> bytes | None:
        return b": ping\n\n"
