"""The Anthropic Messages API as the forwarding lane sees it (gateway.native): the narrow request structs
routing needs, the configured transforms on raw fields, and usage read from answers without decoding them
whole."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from dialects.anthropic.stream import EventEncoder
from gateway.config import ModelConfig
from gateway.native import EventScan, NativeApi, RawBody, apply_fields, apply_params, prepend_to_array, sse_data
from unified.errors import GatewayError
from unified.types import Usage

# What Claude Code and the SDKs send that upstream Anthropic needs to see.
CLIENT_HEADERS = ("anthropic-version", "anthropic-beta")


class _Meta(msgspec.Struct):
    user_id: str | None = None


class Head(msgspec.Struct):
    """Only what routing, limits and affinity read; the rest of the body stays bytes."""

    model: str
    max_tokens: int
    messages: list[msgspec.Raw]
    stream: bool | None = False
    metadata: _Meta | None = None


class CountHead(msgspec.Struct):
    model: str
    messages: list[msgspec.Raw]


head_decoder = msgspec.json.Decoder(Head)
count_head_decoder = msgspec.json.Decoder(CountHead)


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class _Error(msgspec.Struct):
    type: str = "api_error"
    message: str = ""


class _Message(msgspec.Struct):
    type: str = "message"
    usage: _Usage | None = None
    error: _Error | None = None


class _Event(msgspec.Struct):
    type: str = ""
    message: _Message | None = None
    usage: _Usage | None = None
    error: _Error | None = None


class _Count(msgspec.Struct):
    input_tokens: int = 0


class _Text(msgspec.Struct):
    type: str = ""
    text: str | None = None


class _TextEvent(msgspec.Struct):
    type: str = ""
    content: list[_Text] = []
    delta: _Text | None = None


_decode_text = msgspec.json.Decoder(_TextEvent).decode
_decode_message = msgspec.json.Decoder(_Message).decode
_decode_event = msgspec.json.Decoder(_Event).decode
_decode_count = msgspec.json.Decoder(_Count).decode

# unified parameter -> Messages field
_PARAMS = {
    "max_tokens": ("max_tokens",),
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "top_k": ("top_k",),
    "stop": ("stop_sequences",),
}


def _usage(u: _Usage) -> Usage:
    # Anthropic's input_tokens excludes cache reads and writes; the gateway counts all prompt tokens.
    read = u.cache_read_input_tokens or 0
    written = u.cache_creation_input_tokens or 0
    return Usage(
        input_tokens=(u.input_tokens or 0) + read + written,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=read,
        cache_creation_tokens=written,
    )


class Scan(EventScan):
    """message_start carries the input usage, message_delta the cumulative output; `error` events fail."""

    markers = (b'"usage"', b'"error"')
    # message_stop only says the stream ended: not searched once it has, nor in a read that ends with it
    end_markers = (b"message_stop",)

    def __init__(self, client_model: str) -> None:
        super().__init__(client_model)
        self.seen = _Usage()
        self.ended = False

    def inspect(self, event: bytes) -> bool:
        try:
            ev = _decode_event(sse_data(event.replace(b"\r", b"")))
        except msgspec.MsgspecError:
            return False
        u = ev.message.usage if ev.message is not None and ev.message.usage is not None else ev.usage
        if u is not None:
            seen = self.seen  # each event's figures replace the ones it names (message_delta's are cumulative)
            if u.input_tokens is not None:
                seen.input_tokens = u.input_tokens
            if u.output_tokens is not None:
                seen.output_tokens = u.output_tokens
            if u.cache_creation_input_tokens is not None:
                seen.cache_creation_input_tokens = u.cache_creation_input_tokens
            if u.cache_read_input_tokens is not None:
                seen.cache_read_input_tokens = u.cache_read_input_tokens
            self.usage = _usage(seen)
        if ev.type == "message_stop":
            self.ended = True
        elif ev.type == "error":
            e = ev.error or _Error()
            self.error = f"{e.type}: {e.message}" if e.message else e.type
        return False

    def ends(self, complete: bytes) -> bool:
        sep = self.separator
        done = _STOP_EVENT.get(sep)
        if done is None or not complete.endswith(done):
            return False
        before = len(complete) - len(done)  # the event before it ends with a separator, or there is none
        return before == 0 or complete.endswith(sep, 0, before)

    def has_content(self, chunk: bytes) -> bool:
        return b"content_block_delta" in chunk or b'"tool_use"' in chunk


# The end event as Anthropic writes it; written otherwise, `message_stop` is searched for and decoded.
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}'
_STOP_EVENT = {b"\n\n": _STOP + b"\n\n", b"\r\n\r\n": _STOP.replace(b"\n", b"\r\n") + b"\r\n\r\n"}


class Messages(NativeApi):
    name: ClassVar[str] = "anthropic.messages"
    client_headers: ClassVar[tuple[str, ...]] = CLIENT_HEADERS

    def apply(self, body: RawBody, config: ModelConfig, wants: Mapping[str, str]) -> None:
        apply_fields(body, config)  # first: a configured `thinking` counts below
        thinking = body.get("thinking", _Thinking)
        thinking_on = thinking is not None and thinking.type in ("enabled", "adaptive")
        accept = _with_thinking if thinking_on else None
        client = {f for f in ("temperature", "top_p") if body.has(f)}
        written = apply_params(body, config, _PARAMS, accept, wants)
        if written & {"temperature", "top_p"} and body.has("temperature") and body.has("top_p"):
            body.drop(_one_knob(config, written, client))
        if "max_tokens" in written and thinking is not None and thinking.type == "enabled":
            _fit_budget(body, thinking)
        if config.system_prefix:
            apply_system_prefix(body, config.system_prefix)

    def answer(self, data: bytes) -> tuple[Usage | None, str | None]:
        try:
            m = _decode_message(data)
        except msgspec.MsgspecError:
            return None, None
        if m.type == "error":
            e = m.error or _Error()
            return None, f"{e.type}: {e.message}" if e.message else e.type
        return (None if m.usage is None else _usage(m.usage)), None

    def scanner(self, note: Any, client_model: str) -> Scan:
        return Scan(client_model)

    def stream_error(self, model: str, err: GatewayError) -> bytes:
        return EventEncoder(model).error(err)

    def text_of(self, data: bytes) -> str:
        if data.startswith((b"data:", b"event:", b":")):
            data = sse_data(data.replace(b"\r", b""))
        try:
            ev = _decode_text(data)
        except msgspec.MsgspecError:
            return ""
        if ev.delta is not None:
            return ev.delta.text or "" if ev.delta.type == "text_delta" else ""
        return "".join(b.text or "" for b in ev.content if b.type == "text")


class CountTokens(NativeApi):
    name: ClassVar[str] = "anthropic.count_tokens"
    client_headers: ClassVar[tuple[str, ...]] = CLIENT_HEADERS
    streams: ClassVar[bool] = False

    def apply(self, body: RawBody, config: ModelConfig, wants: Mapping[str, str]) -> None:
        if config.system_prefix:  # the prefix is part of the prompt, so it counts
            apply_system_prefix(body, config.system_prefix)


class _Thinking(msgspec.Struct):
    type: str = ""
    budget_tokens: int | None = None


def _with_thinking(key: str, value: Any) -> bool:
    """With thinking on the API takes temperature 1 only, no top_k, and top_p in [0.95, 1]: a configured
    value it would reject is left out, as on the translated lane."""
    if key == "temperature":
        return bool(value == 1)
    if key == "top_k":
        return False
    if key == "top_p":
        return isinstance(value, (int, float)) and 0.95 <= value <= 1
    return True


def _one_knob(config: ModelConfig, written: set[str], client: set[str]) -> str:
    """Which of temperature and top_p to leave out when both ended up set (the API takes one): an override
    beats the client's value, which beats a default; on a tie temperature stays, as on the translated lane."""

    def rank(field: str) -> int:
        if field in written:
            return 2 if field in config.overrides else 0
        return 1 if field in client else -1

    return "top_p" if rank("temperature") >= rank("top_p") else "temperature"


def _fit_budget(body: RawBody, thinking: _Thinking) -> None:
    """A configured max_tokens below the client's thinking budget: the budget shrinks under it, and
    thinking is left out when no room for it remains (the API needs budget_tokens >= 1024)."""
    max_tokens = body.get("max_tokens", int)
    budget = thinking.budget_tokens
    if not isinstance(max_tokens, int) or budget is None or budget < max_tokens:
        return
    if max_tokens - 1 < 1024:
        body.drop("thinking")
        return
    fields = body.get("thinking", dict[str, Any])
    fields["budget_tokens"] = max_tokens - 1
    body.set("thinking", fields)


def apply_system_prefix(body: RawBody, prefix: str) -> None:
    """The model's system prefix before the client's system prompt, in whichever form the client sent it."""
    raw = body.fields.get("system")
    current = bytes(raw).strip() if raw is not None else b"null"
    if current == b"null":
        body.set("system", prefix)
    elif current.startswith(b"["):
        body.set_raw("system", prepend_to_array(current, {"type": "text", "text": prefix}))
    else:
        body.set("system", prefix + "\n\n" + msgspec.json.decode(current, type=str))


MESSAGES = Messages()
COUNT_TOKENS = CountTokens()
