"""The OpenAI Responses API as the forwarding lane sees it (gateway.native): a request for an `api: responses`
upstream goes there as the client sent it (only `model` and the configured transforms patched in), the
answer comes back as the upstream sent it, and usage is read on the side from `response.completed`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from gateway.config import ModelConfig
from gateway.native import EventScan, NativeApi, RawBody, apply_fields, apply_params, sse_data
from unified.errors import GatewayError
from unified.ids import mint
from unified.types import Usage


class Head(msgspec.Struct):
    """Only what routing, limits and affinity read; the rest of the body stays bytes."""

    model: str
    stream: bool | None = False
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    user: str | None = None


head_decoder = msgspec.json.Decoder(Head)


class _InputDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None


class _Error(msgspec.Struct):
    code: str | None = None
    message: str | None = None


class _Response(msgspec.Struct):
    status: str | None = None
    usage: _Usage | None = None
    error: _Error | None = None


class _Event(msgspec.Struct):
    type: str = ""
    response: _Response | None = None
    code: str | None = None
    message: str | None = None


_decode_response = msgspec.json.Decoder(_Response).decode
_decode_event = msgspec.json.Decoder(_Event).decode
_encode = msgspec.json.encode

# unified parameter -> Responses field
_PARAMS = {"max_tokens": ("max_output_tokens",), "temperature": ("temperature",), "top_p": ("top_p",)}
_CONTENT = re.compile(rb'"response\.(?:output_item\.added|[a-z_.]*\.delta)"')


def _usage(u: _Usage) -> Usage:
    return Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=(u.input_tokens_details.cached_tokens or 0) if u.input_tokens_details else 0,
        reasoning_tokens=(u.output_tokens_details.reasoning_tokens or 0) if u.output_tokens_details else 0,
    )


def usage_of(body: bytes) -> Usage | None:
    """The `usage` of a whole Responses JSON answer (e.g. `/responses/compact`), if it has one."""
    try:
        u = _decode_response(body).usage
    except msgspec.DecodeError:
        return None
    return None if u is None else _usage(u)


def _message(error: _Error | None, fallback: str) -> str:
    if error is None or not error.message:
        return fallback
    return f"{error.code}: {error.message}" if error.code else error.message


class Scan(EventScan):
    """The last event (`response.completed` / `.incomplete` / `.failed`) carries the usage; a top-level
    `error` event or `response.failed` is a failure."""

    markers = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"', b'"error"')

    def __init__(self, client_model: str) -> None:
        super().__init__(client_model)
        self.ended = False

    def inspect(self, event: bytes) -> bool:
        try:
            ev = _decode_event(sse_data(event.replace(b"\r", b"")))
        except msgspec.MsgspecError:
            return False
        if ev.type in ("response.completed", "response.incomplete", "response.failed"):
            self.ended = True
            resp = ev.response
            if resp is not None and resp.usage is not None:
                self.usage = _usage(resp.usage)
            if ev.type == "response.failed":
                self.error = _message(resp.error if resp else None, "the upstream failed the response")
        elif ev.type == "error":
            self.error = _message(_Error(code=ev.code, message=ev.message), "upstream stream error")
        return False

    def has_content(self, chunk: bytes) -> bool:
        return _CONTENT.search(chunk) is not None


class Responses(NativeApi):
    name: ClassVar[str] = "openai.responses"
    client_headers: ClassVar[tuple[str, ...]] = ("OpenAI-Beta",)

    def apply(self, body: RawBody, config: ModelConfig, wants: Mapping[str, str]) -> None:
        apply_fields(body, config)
        apply_params(body, config, _PARAMS, wants=wants)
        if config.system_prefix:
            current = body.get("instructions", str | None)
            body.set("instructions", config.system_prefix + ("\n\n" + current if current else ""))

    def answer(self, data: bytes) -> tuple[Usage | None, str | None]:
        try:
            r = _decode_response(data)
        except msgspec.MsgspecError:
            return None, None
        if r.status == "failed":
            return None, _message(r.error, "the upstream failed the response")
        return (None if r.usage is None else _usage(r.usage)), None

    def scanner(self, note: Any, client_model: str) -> Scan:
        return Scan(client_model)

    def stream_error(self, model: str, err: GatewayError) -> bytes:
        """A failure after the relayed answer began: `response.failed`, which Codex treats as retryable."""
        response = {
            "id": mint("resp_"),
            "object": "response",
            "model": model,
            "status": "failed",
            "output": [],
            "error": {"code": err.code or "server_error", "message": err.message},
        }
        data = _encode({"type": "response.failed", "sequence_number": 0, "response": response})
        return b"event: response.failed\ndata: " + data + b"\n\n"


RESPONSES = Responses()
