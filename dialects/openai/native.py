"""OpenAI Chat Completions as the forwarding lane sees it (gateway.native): the narrow request struct routing
needs, the configured transforms on raw fields, stream usage asked for and read on the side."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from dialects.openai.stream import ChunkEncoder
from gateway.config import ModelConfig
from gateway.native import (
    EventScan,
    NativeApi,
    RawBody,
    apply_fields,
    apply_params,
    find_in,
    prefix_system_message,
    sse_data,
)
from unified.errors import GatewayError
from unified.types import Usage


class _StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class Head(msgspec.Struct):
    """Only what routing, limits and affinity read; the rest of the body stays bytes."""

    model: str
    messages: list[msgspec.Raw]
    stream: bool | None = False
    stream_options: _StreamOptions | None = None
    user: str | None = None
    prompt_cache_key: str | None = None


head_decoder = msgspec.json.Decoder(Head)


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _Choice(msgspec.Struct):
    finish_reason: str | None = None


class _Chunk(msgspec.Struct):
    usage: _Usage | None = None
    choices: list[_Choice] | None = None
    error: Any = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode


class _TextMessage(msgspec.Struct):
    content: Any = None


class _TextChoice(msgspec.Struct):
    message: _TextMessage | None = None
    delta: _TextMessage | None = None


class _TextChunk(msgspec.Struct):
    choices: list[_TextChoice] = []


_decode_text = msgspec.json.Decoder(_TextChunk).decode

_PARAMS = {
    "max_tokens": ("max_tokens", "max_completion_tokens"),
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "seed": ("seed",),
    "presence_penalty": ("presence_penalty",),
    "frequency_penalty": ("frequency_penalty",),
    "stop": ("stop",),
}
_CONTENT = re.compile(rb'"(?:content|reasoning_content|reasoning)"\s*:\s*"[^"]|"tool_calls"')


def _usage(u: _Usage) -> Usage:
    return Usage(
        input_tokens=u.prompt_tokens or 0,
        output_tokens=u.completion_tokens or 0,
        cache_read_tokens=(u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0,
        reasoning_tokens=(u.completion_tokens_details.reasoning_tokens or 0) if u.completion_tokens_details else 0,
    )


class Scan(EventScan):
    """Usage comes in a chunk of its own at the end (asked for by `prepare` when the client did not ask,
    and then kept from the client); the stream ends with `[DONE]` or, on some servers, a finish_reason."""

    markers = (b'"usage":{', b'"usage": {', b'"error"')
    # A finish_reason or [DONE] only says the stream ended: once it has, or when a read ends with
    # `data: [DONE]` (the whole stream in one read, as short answers come), they need no search.
    end_markers = (b"[DONE]", b'"finish_reason":"', b'"finish_reason": "')

    def __init__(self, client_model: str, hide_usage: bool) -> None:
        super().__init__(client_model)
        self.hide_usage = hide_usage
        self.ended = False

    def inspect(self, event: bytes) -> bool:
        data = sse_data(event.replace(b"\r", b""))
        if data.startswith(b"[DONE]"):
            self.ended = True
            return False
        try:
            chunk = _decode_chunk(data)
        except msgspec.MsgspecError:
            return False
        if chunk.error is not None:
            e = chunk.error
            self.error = str(e.get("message") or e) if isinstance(e, dict) else str(e)
            return False
        if chunk.choices and any(c.finish_reason for c in chunk.choices):
            self.ended = True
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
            return self.hide_usage and not chunk.choices
        return False

    def ends(self, complete: bytes) -> bool:
        sep = self.separator
        last = len(complete) - len(sep) - 1
        if last < 0 or complete[last] != 93:  # not `]` + separator: most reads, told apart by one index
            return False
        done = _DONE_EVENT[sep]
        if not complete.endswith(done):
            return False
        before = len(complete) - len(done)  # the event before it ends with a separator, or there is none
        return before == 0 or complete.endswith(sep, 0, before)

    def has_content(self, chunk: bytes) -> bool:
        # Plain text content as OpenAI writes it is found by a C search; anything else by the pattern.
        at = find_in(chunk, b'"content":"')
        while 0 <= at < len(chunk) - 11:
            if chunk[at + 11] != 34:  # not `""`
                return True
            at = find_in(chunk, b'"content":"', at + 12)
        return _CONTENT.search(chunk) is not None


_DONE_EVENT = {b"\n\n": b"data: [DONE]\n\n", b"\r\n\r\n": b"data: [DONE]\r\n\r\n"}


class ChatCompletions(NativeApi):
    name: ClassVar[str] = "openai.chat"
    client_headers: ClassVar[tuple[str, ...]] = ("OpenAI-Beta",)

    def prepare(self, body: RawBody, stream: bool) -> bool:
        """A stream's usage is needed for metrics, limits and spend: ask for it when the client did not,
        and remember to keep that chunk from the client."""
        if not stream:
            return False
        options = body.get("stream_options", dict[str, Any]) or {}
        if options.get("include_usage") is True:
            return False
        body.set("stream_options", {**options, "include_usage": True})
        return True

    def apply(self, body: RawBody, config: ModelConfig, wants: Mapping[str, str]) -> None:
        apply_fields(body, config)
        apply_params(body, config, _PARAMS, wants=wants)
        if config.system_prefix:
            messages = body.fields.get("messages")
            if messages is not None:
                body.set_raw("messages", prefix_system_message(bytes(messages), config.system_prefix))

    def answer(self, data: bytes) -> tuple[Usage | None, str | None]:
        try:
            chunk = _decode_chunk(data)
        except msgspec.MsgspecError:
            return None, None
        if chunk.error is not None and not chunk.choices:
            e = chunk.error
            return None, str(e.get("message") or e) if isinstance(e, dict) else str(e)
        return (None if chunk.usage is None else _usage(chunk.usage)), None

    def scanner(self, note: Any, client_model: str) -> Scan:
        return Scan(client_model, bool(note))

    def stream_error(self, model: str, err: GatewayError) -> bytes:
        return ChunkEncoder(model, False).error(err)

    def text_of(self, data: bytes) -> str:
        if data.startswith((b"data:", b"event:", b":")):
            data = sse_data(data.replace(b"\r", b""))
        try:
            chunk = _decode_text(data)
        except msgspec.MsgspecError:
            return ""
        out = []
        for c in chunk.choices[:1]:
            m = c.message or c.delta
            if m is not None and isinstance(m.content, str):
                out.append(m.content)
        return "".join(out)


CHAT = ChatCompletions()
