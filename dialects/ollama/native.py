"""Ollama's /api/chat and /api/generate as the forwarding lane sees them (gateway.native): the narrow request
structs routing needs, the configured transforms on raw fields (sampling lives in `options`), and the final
NDJSON line's counts read on the side."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from dialects.ollama.errors import error_line
from gateway.config import ModelConfig
from gateway.native import EventScan, NativeApi, RawBody, cap_max_tokens, prefix_system_message
from unified.errors import GatewayError
from unified.types import Usage


class ChatHead(msgspec.Struct):
    """Only what routing reads; the rest of the body stays bytes."""

    model: str = ""
    messages: list[msgspec.Raw] | None = None
    stream: bool | None = None  # absent = stream (Ollama's default)
    keep_alive: Any = None
    think: Any = None


class GenerateHead(msgspec.Struct):
    model: str = ""
    prompt: str | None = None
    images: list[msgspec.Raw] | None = None
    stream: bool | None = None
    keep_alive: Any = None
    think: Any = None


chat_head_decoder = msgspec.json.Decoder(ChatHead)
generate_head_decoder = msgspec.json.Decoder(GenerateHead)


class _Final(msgspec.Struct):
    done: bool = False
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    error: str | None = None


_decode_final = msgspec.json.Decoder(_Final).decode


class _Message(msgspec.Struct):
    content: str | None = None


class _TextLine(msgspec.Struct):
    message: _Message | None = None
    response: str | None = None


_decode_text = msgspec.json.Decoder(_TextLine).decode

# unified parameter -> key in Ollama's `options` (an Ollama option name in the config is used as it is)
_OPTIONS = {
    "max_tokens": "num_predict",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "stop": "stop",
}
# Top-level request fields a model's defaults / overrides may set; every other key is an Ollama option
# (num_ctx, repeat_penalty, mirostat ...), so it goes into `options` under its own name.
_TOP_LEVEL = frozenset({"think", "keep_alive", "format"})
_CONTENT = re.compile(rb'"(?:content|response|thinking)"\s*:\s*"[^"]|"tool_calls"')


class Scan(EventScan):
    """NDJSON: the last line (`"done": true`) carries the counts; an `error` line ends a failed stream."""

    separator = b"\n"
    markers = (b'"done":true', b'"done": true', b'"error"')

    def __init__(self, client_model: str) -> None:
        super().__init__(client_model)
        self.ended = False

    def inspect(self, event: bytes) -> bool:
        try:
            line = _decode_final(event)
        except msgspec.MsgspecError:
            return False
        if line.error:
            self.error = line.error
        elif line.done:
            self.ended = True
            self.usage = Usage(input_tokens=line.prompt_eval_count or 0, output_tokens=line.eval_count or 0)
        return False

    def has_content(self, chunk: bytes) -> bool:
        return _CONTENT.search(chunk) is not None


class _OllamaApi(NativeApi):
    stream_content_type: ClassVar[str] = "application/x-ndjson"

    def prepare(self, body: RawBody, stream: bool) -> None:
        if not body.has("stream"):  # said explicitly, so no upstream has to agree on the default
            body.set("stream", stream)

    def apply(self, body: RawBody, config: ModelConfig, wants: Mapping[str, str]) -> None:
        sent: dict[str, Any] | None = body.get("options", dict[str, Any]) if body.has("options") else {}
        writable = sent is not None  # `options` that is not an object stays as sent, for the upstream to refuse
        options = dict(sent or {})
        before = dict(options)
        for key, value in config.defaults.items():
            if key in _TOP_LEVEL:
                if not body.has(key):
                    body.set(key, value)
            elif options.get(_OPTIONS.get(key, key)) is None:
                options[_OPTIONS.get(key, key)] = value
        if config.max_tokens is not None and options.get("num_predict") is None:
            options["num_predict"] = config.max_tokens
        for key, value in config.overrides.items():
            if key in _TOP_LEVEL:
                body.set(key, value)
                continue
            name = _OPTIONS.get(key, key)
            options[name] = cap_max_tokens(options.get(name), value) if name == "num_predict" else value
        if options != before and writable:
            body.set("options", options)
        if config.system_prefix:
            self.system_prefix(body, config.system_prefix)

    def system_prefix(self, body: RawBody, prefix: str) -> None:
        raise NotImplementedError

    def answer(self, data: bytes) -> tuple[Usage | None, str | None]:
        try:
            line = _decode_final(data)
        except msgspec.MsgspecError:
            return None, None
        if line.error:
            return None, line.error
        return Usage(input_tokens=line.prompt_eval_count or 0, output_tokens=line.eval_count or 0), None

    def scanner(self, note: Any, client_model: str) -> Scan:
        return Scan(client_model)

    def stream_error(self, model: str, err: GatewayError) -> bytes:
        return error_line(err)

    def text_of(self, data: bytes) -> str:
        try:
            line = _decode_text(data)
        except msgspec.MsgspecError:
            return ""
        return line.response or (line.message.content if line.message is not None else None) or ""


class Chat(_OllamaApi):
    name: ClassVar[str] = "ollama.chat"

    def system_prefix(self, body: RawBody, prefix: str) -> None:
        messages = body.fields.get("messages")
        if messages is not None:
            body.set_raw("messages", prefix_system_message(bytes(messages), prefix))


class Generate(_OllamaApi):
    name: ClassVar[str] = "ollama.generate"

    def system_prefix(self, body: RawBody, prefix: str) -> None:
        system = body.get("system", str)
        body.set("system", f"{prefix}\n\n{system}" if system else prefix)


CHAT = Chat()
GENERATE = Generate()
