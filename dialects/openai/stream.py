"""Unified stream Events -> OpenAI Chat Completions `chat.completion.chunk` SSE lines."""

from __future__ import annotations

import time

import msgspec

from dialects.openai.codec import FINISH_REASON, usage_of
from unified import custom
from unified.errors import GatewayError
from unified.ids import mint
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


class ChunkEncoder:
    """Unified events -> `data: {chunk}` SSE lines. The fixed part of every chunk is encoded once per
    stream; each delta only encodes its own text."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(
        self, client_model: str, include_usage: bool, function_call: bool = False, customs: frozenset[str] = frozenset()
    ) -> None:
        self.id = mint("chatcmpl-", 29)
        # The client used the deprecated `functions`: the first call streams as `delta.function_call`.
        self.function_call = function_call
        # The client's custom tools: their calls are held until whole (the input is unwrapped from the
        # unified {"input": ...} arguments) and sent as one custom tool call chunk before the finish.
        self.customs = customs
        self.held: dict[int, tuple[str, str, list[str]]] = {}
        self.include_usage = include_usage
        self.created = int(time.time())
        self.model = client_model
        self.saw_tool_calls = False
        self._prefix = b""
        self._set_prefix()

    def _set_prefix(self) -> None:
        self._prefix = (
            b'data: {"id":'
            + _encode(self.id)
            + b',"object":"chat.completion.chunk","created":'
            + str(self.created).encode()
            + b',"model":'
            + _encode(self.model)
            + b',"system_fingerprint":"fp_llm_link","choices":[{"index":0,"delta":'
        )

    def _chunk(self, delta: bytes, finish: bytes = b"null") -> bytes:
        return self._prefix + delta + b',"logprobs":null,"finish_reason":' + finish + b"}]}\n\n"

    def feed(self, event: Event) -> bytes:
        if isinstance(event, TextDelta):
            return self._chunk(b'{"content":' + _encode(event.text) + b"}")
        if isinstance(event, ToolCallDelta):
            held = self.held.get(event.index) if self.held else None
            if held is not None:
                held[2].append(event.arguments)
                return b""
            if self.function_call:
                if event.index != 0:
                    return b""
                return self._chunk(b'{"function_call":{"arguments":' + _encode(event.arguments) + b"}}")
            return self._chunk(
                b'{"tool_calls":[{"index":'
                + str(event.index).encode()
                + b',"function":{"arguments":'
                + _encode(event.arguments)
                + b"}}]}"
            )
        if isinstance(event, ThinkingDelta):
            if not event.text:
                return b""
            return self._chunk(b'{"reasoning_content":' + _encode(event.text) + b"}")
        if isinstance(event, ToolCallStart):
            self.saw_tool_calls = True
            if event.name in self.customs:
                self.held[event.index] = (event.id, event.name, [])
                return b""
            if self.function_call:
                if event.index != 0:
                    return b""
                return self._chunk(b'{"function_call":{"name":' + _encode(event.name) + b',"arguments":""}}')
            return self._chunk(
                b'{"tool_calls":[{"index":'
                + str(event.index).encode()
                + b',"id":'
                + _encode(event.id)
                + b',"type":"function","function":{"name":'
                + _encode(event.name)
                + b',"arguments":""}}]}'
            )
        if isinstance(event, Start):
            return self._chunk(b'{"role":"assistant","content":""}')
        if isinstance(event, Finish):
            if self.saw_tool_calls:
                finish = "function_call" if self.function_call else "tool_calls"
            else:
                finish = FINISH_REASON.get(event.stop_reason, "stop")
            out = b"".join(self._custom_call(i, *held) for i, held in self.held.items())
            out += self._chunk(b"{}", _encode(finish))
            if self.include_usage:
                out += (
                    b'data: {"id":'
                    + _encode(self.id)
                    + b',"object":"chat.completion.chunk","created":'
                    + str(self.created).encode()
                    + b',"model":'
                    + _encode(self.model)
                    + b',"system_fingerprint":"fp_llm_link","choices":[],"usage":'
                    + _encode(usage_of(event.usage))
                    + b"}\n\n"
                )
            return out + b"data: [DONE]\n\n"
        return b""

    def _custom_call(self, index: int, call_id: str, name: str, pieces: list[str]) -> bytes:
        whole = custom.input_of("".join(pieces))
        call = {"index": index, "id": call_id, "type": "custom", "custom": {"name": name, "input": whole}}
        return self._chunk(b'{"tool_calls":' + _encode([call]) + b"}")

    def error(self, err: GatewayError) -> bytes:
        from dialects.openai.errors import error_object

        return b"data: " + _encode({"error": error_object(err)}) + b"\n\n"

    def ping(self) -> bytes | None:
        return b": ping\n\n"
