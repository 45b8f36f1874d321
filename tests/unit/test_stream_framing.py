"""SSE / NDJSON framing and the providers' stream decoders, in-process: bytes cut anywhere give the same
frames, and a stream without its end marker is an error, not a silent success."""

from __future__ import annotations

import json

import pytest

from providers.anthropic.stream import EventDecoder
from providers.openai.stream import ChunkDecoder
from providers.sse import NDJSONFramer, SSEFramer
from unified.errors import GatewayError
from unified.types import Event, Finish, Start, TextDelta, ToolCallDelta, ToolCallStart

SSE = (
    b": keep-alive comment\n\n"
    b"event: message\ndata: first\n\n"
    b"data: two\ndata: lines\n\n"
    b"id: 7\nretry: 100\n\n"
    b"data: last\n\n"
)


def frames_of(framer: SSEFramer | NDJSONFramer, data: bytes, cut: int) -> list[tuple[str | None, bytes]]:
    out = []
    for i in range(0, len(data), cut):
        out += framer.feed(data[i : i + cut])
    return out + framer.end()


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 1000])
def test_sse_frames_do_not_depend_on_how_bytes_arrive(cut: int) -> None:
    assert frames_of(SSEFramer("u"), SSE, cut) == [("message", b"first"), (None, b"two\nlines"), (None, b"last")]


# A burst of one-line events (the fast path), then one that mixes in extra blank lines, empty data, a
# comment and a two-line event (the general parse): the same frames whole or a byte at a time.
BURSTS = [
    (b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n", [(None, b"1"), (None, b"2"), (None, b"[DONE]")]),
    (
        b"data: 1\n\n\n\ndata: 2\n\ndata: \n\n: ping\n\nevent: e\ndata: 3\n\ndata: 4\n\ndata: 5",
        [(None, b"1"), (None, b"2"), ("e", b"3"), (None, b"4"), (None, b"5")],
    ),
]


@pytest.mark.parametrize(("data", "frames"), BURSTS)
def test_sse_burst_reads_like_byte_by_byte(data: bytes, frames: list[tuple[str | None, bytes]]) -> None:
    assert frames_of(SSEFramer("u"), data, len(data)) == frames
    assert frames_of(SSEFramer("u"), data, 1) == frames


def test_sse_crlf_and_a_last_event_without_blank_line() -> None:
    data = b"data: a\r\n\r\ndata: b"
    assert frames_of(SSEFramer("u"), data, 3) == [(None, b"a"), (None, b"b")]


@pytest.mark.parametrize("cut", [1, 4, 1000])
def test_ndjson_lines(cut: int) -> None:
    data = b'{"a":1}\n\n  {"b":2}  \n{"c":3}'
    assert [f[1] for f in frames_of(NDJSONFramer("u"), data, cut)] == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_oversized_event_is_refused() -> None:
    framer = SSEFramer("u")
    with pytest.raises(GatewayError) as err:
        framer.feed(b"data: " + b"x" * (16 * 1024 * 1024 + 10))
    assert err.value.status == 502


def _decode(decoder: ChunkDecoder | EventDecoder, frames: list[bytes]) -> list[Event]:
    out: list[Event] = []
    for data in frames:
        if decoder.feed((None, data), out):
            return out
    decoder.end(out)
    return out


def _chunk(**delta: object) -> bytes:
    return json.dumps({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta}]}).encode()


def test_openai_decoder_text_tools_and_usage() -> None:
    frames = [
        _chunk(role="assistant", content="Hel"),
        _chunk(content="lo"),
        _chunk(tool_calls=[{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"a"'}}]),
        _chunk(tool_calls=[{"index": 0, "function": {"arguments": ":1}"}}]),
        json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}).encode(),
        json.dumps({"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}).encode(),
        b"[DONE]",
    ]
    events = _decode(ChunkDecoder("m", "u"), frames)
    assert isinstance(events[0], Start)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    assert [e.name for e in events if isinstance(e, ToolCallStart)] == ["f"]
    assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta)) == '{"a":1}'
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.stop_reason == "tool_calls"
    assert (finish.usage.input_tokens, finish.usage.output_tokens) == (3, 4)


def test_openai_decoder_cut_off_stream_is_an_error() -> None:
    with pytest.raises(GatewayError) as err:
        _decode(ChunkDecoder("m", "u"), [_chunk(content="Hel")])
    assert err.value.kind == "upstream_unreachable"
    with pytest.raises(GatewayError):
        _decode(ChunkDecoder("m", "u"), [])


def test_openai_decoder_bad_chunk() -> None:
    with pytest.raises(GatewayError) as err:
        _decode(ChunkDecoder("m", "u"), [b"{not json"])
    assert err.value.status == 502


def _ev(kind: str, **fields: object) -> bytes:
    return json.dumps({"type": kind, **fields}).encode()


def test_anthropic_decoder_sequence() -> None:
    frames = [
        _ev("message_start", message={"id": "msg_1", "model": "claude", "usage": {"input_tokens": 5}}),
        _ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        _ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hi"}),
        _ev("content_block_stop", index=0),
        _ev("content_block_start", index=1, content_block={"type": "tool_use", "id": "toolu_1", "name": "f"}),
        _ev("content_block_stop", index=1),  # no argument fragments: the call takes {}
        _ev("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 9}),
        _ev("message_stop"),
        _ev("ping"),  # never read: the stream is complete at message_stop
    ]
    events = _decode(EventDecoder("claude", "u"), frames)
    assert isinstance(events[0], Start) and events[0].input_tokens == 5
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi"]
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == ["{}"]
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.stop_reason == "tool_calls" and finish.usage.output_tokens == 9


def test_anthropic_decoder_in_stream_error_and_early_end() -> None:
    overloaded = _ev("error", error={"type": "overloaded_error", "message": "busy"})
    with pytest.raises(GatewayError) as err:
        _decode(EventDecoder("c", "u"), [_ev("message_start", message={"id": "m"}), overloaded])
    assert (err.value.kind, err.value.status) == ("overloaded", 529)
    with pytest.raises(GatewayError) as err:
        _decode(EventDecoder("c", "u"), [_ev("message_start", message={"id": "m"})])
    assert err.value.kind == "upstream_unreachable"
