"""The forwarding lane's stream scanners read the same usage, end and error, and relay the same bytes, however
the upstream's stream is cut into TCP reads: at every byte, and at many random places at once."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from dialects.anthropic import native as anthropic_native
from dialects.ollama import native as ollama_native
from dialects.openai import native as openai_native
from dialects.responses import native as responses_native
from gateway.native import EventScan, find_in, sse_data


def _sse(obj: Any, spaced: bool = False) -> bytes:
    return b"data: " + json.dumps(obj, separators=(", ", ": ") if spaced else (",", ":")).encode() + b"\n\n"


def _chat(choices: list[Any], usage: Any = None, spaced: bool = False) -> bytes:
    return _sse(
        {"id": "c1", "object": "chat.completion.chunk", "model": "up-1", "choices": choices, "usage": usage}, spaced
    )


def _delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": {"content": text}, "finish_reason": finish}


USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 4}}


def _openai(spaced: bool = False, done: bool = True) -> tuple[bytes, bytes]:
    """A chat stream with `"usage":null` in every chunk (include_usage on) and the stream as a client that did
    not ask for usage gets it (the usage-only chunk dropped). Content mentions the markers as text."""
    body = [
        _chat([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}], spaced=spaced),
        _chat([_delta('say "usage":{ and [DONE] and "error"')], spaced=spaced),
        _chat([_delta(" ok")], spaced=spaced),
        _chat([_delta("", "stop")], spaced=spaced),
    ]
    usage = _chat([], USAGE, spaced=spaced)
    end = [b"data: [DONE]\n\n"] if done else []
    return b"".join([*body, usage, *end]), b"".join([*body, *end])


def _reads(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _run(scan: EventScan, reads: list[bytes]) -> bytes:
    """What the relay sends: each read's output, then the tail."""
    return b"".join([*(scan.feed(r) for r in reads), scan.tail()])


def _all_cuts(data: bytes, rng: random.Random) -> list[list[int]]:
    """Two reads cut at every byte, then random cuts into 3 to 40 reads."""
    one = [[i] for i in range(1, len(data))]
    many = [rng.sample(range(1, len(data)), rng.randint(2, 39)) for _ in range(300)]
    return [[], *one, *many]


def _check(make: Callable[[], EventScan], data: bytes, relayed: bytes, expect: tuple[Any, ...]) -> None:
    rng = random.Random(17)
    for cuts in _all_cuts(data, rng):
        scan = make()
        out = _run(scan, _reads(data, cuts))
        got = (scan.usage, scan.ended, scan.error)
        assert (out, got) == (relayed, expect), cuts


@pytest.mark.parametrize("spaced", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_openai_stream_reads_alike_however_it_is_cut(spaced: bool, crlf: bool) -> None:
    data, hidden = _openai(spaced)
    if crlf:
        data, hidden = data.replace(b"\n", b"\r\n"), hidden.replace(b"\n", b"\r\n")
    usage = openai_native._usage(openai_native._Usage(12, 3, openai_native._PromptDetails(4)))
    _check(lambda: openai_native.Scan("up-1", hide_usage=True), data, hidden, (usage, True, None))
    _check(lambda: openai_native.Scan("up-1", hide_usage=False), data, data, (usage, True, None))


def test_openai_stream_without_done_ends_on_its_finish_reason() -> None:
    data, hidden = _openai(done=False)
    usage = openai_native._usage(openai_native._Usage(12, 3, openai_native._PromptDetails(4)))
    _check(lambda: openai_native.Scan("up-1", hide_usage=True), data, hidden, (usage, True, None))


def test_openai_stream_cut_before_its_end_is_not_ended() -> None:
    data = b"".join([_chat([_delta("hi [DONE]")]), _chat([_delta(" there")])])
    _check(lambda: openai_native.Scan("up-1", hide_usage=True), data, data, (None, False, None))
    # `[DONE]` as the data of an event ends it even when more follows in the same read
    late = b"data: [DONE]\n\n: keep-alive\n\n"
    _check(lambda: openai_native.Scan("up-1", hide_usage=True), data + late, data + late, (None, True, None))


def test_openai_error_event_is_read_wherever_it_is_cut() -> None:
    error = _sse({"error": {"message": "overloaded", "type": "server_error"}})
    data = _chat([_delta("hi")]) + error
    _check(lambda: openai_native.Scan("up-1", hide_usage=True), data, data, (None, False, "overloaded"))


def test_openai_usage_in_every_chunk_keeps_the_last_figures() -> None:
    chunks = [_chat([_delta(f"t{i}")], {"prompt_tokens": 5, "completion_tokens": i}) for i in range(1, 4)]
    data = b"".join([*chunks, b"data: [DONE]\n\n"])
    usage = openai_native._usage(openai_native._Usage(5, 3))
    _check(lambda: openai_native.Scan("up-1", hide_usage=True), data, data, (usage, True, None))


def _anthropic(compact: bool = False) -> bytes:
    events = [
        {"type": "message_start", "message": {"model": "up-1", "usage": {"input_tokens": 20, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 'say "usage"'}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    seps = (",", ":") if compact else (", ", ": ")
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e, separators=seps)}\n\n".encode() for e in events)


@pytest.mark.parametrize("compact", [False, True])  # compact: the end event as Anthropic writes it
@pytest.mark.parametrize("crlf", [False, True])
def test_anthropic_stream_reads_alike_however_it_is_cut(compact: bool, crlf: bool) -> None:
    data = _anthropic(compact)
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    scan = anthropic_native.Scan("up-1")
    scan.feed(data)
    assert scan.usage is not None and (scan.usage.input_tokens, scan.usage.output_tokens) == (20, 9)
    _check(lambda: anthropic_native.Scan("up-1"), data, data, (scan.usage, True, None))
    cut = data[: data.rfind(b"event: message_stop")]  # the connection dropped before the end event
    _check(lambda: anthropic_native.Scan("up-1"), cut, cut, (scan.usage, False, None))


def test_ollama_stream_reads_alike_however_it_is_cut() -> None:
    lines = [
        {"model": "up-1", "message": {"role": "assistant", "content": "hi"}, "done": False},
        {"model": "up-1", "message": {"role": "assistant", "content": ""}, "done": True, "prompt_eval_count": 7,
         "eval_count": 2},
    ]  # fmt: skip
    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    scan = ollama_native.Scan("up-1")
    scan.feed(data)
    assert scan.usage is not None and (scan.usage.input_tokens, scan.usage.output_tokens) == (7, 2)
    _check(lambda: ollama_native.Scan("up-1"), data, data, (scan.usage, True, None))


def test_responses_stream_reads_alike_however_it_is_cut() -> None:
    events = [
        {"type": "response.created", "response": {"model": "up-1", "status": "in_progress"}},
        {"type": "response.output_text.delta", "delta": "hi"},
        {"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 8,
         "output_tokens": 2}}},
    ]  # fmt: skip
    data = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    scan = responses_native.Scan("up-1")
    scan.feed(data)
    assert scan.usage is not None and (scan.usage.input_tokens, scan.usage.output_tokens) == (8, 2)
    _check(lambda: responses_native.Scan("up-1"), data, data, (scan.usage, True, None))


def test_openai_first_content_is_found_as_the_pattern_finds_it() -> None:
    scan = openai_native.Scan("up-1", hide_usage=True)
    data, _ = _openai()
    rng = random.Random(3)
    pieces = [
        data,
        b'"content":""',
        b'"content":"',
        b'"content":"x',
        b'"content": "x',
        b'"reasoning_content":"y"',
        b'"tool_calls":[',
        b'"content":"","content":"z"',
    ]
    pieces += [data[a : a + rng.randint(0, 300)] for a in (rng.randrange(len(data)) for _ in range(500))]
    for chunk in pieces:
        assert scan.has_content(chunk) == (openai_native._CONTENT.search(chunk) is not None), chunk


def test_marker_search_agrees_with_bytes_find() -> None:
    rng = random.Random(5)
    for _ in range(20000):
        hay = bytes(rng.choice(b'ab"u{: \n') for _ in range(rng.randrange(0, 200)))
        needle = bytes(rng.choice(b'ab"u{: \n') for _ in range(rng.randint(1, 4)))
        start = rng.randrange(0, len(hay) + 2)
        assert find_in(hay, needle, start) == hay.find(needle, start)
    big = b"y" * 100_000 + b'"usage":{'  # past any small-input path
    assert find_in(big, b'"usage":{') == 100_000


def test_sse_data_fast_paths_agree_with_the_line_parse() -> None:
    def by_lines(event: bytes) -> bytes:
        lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
        return lines[0] if len(lines) == 1 else b"\n".join(lines)

    rng = random.Random(11)
    parts = [b"data:", b"data: ", b"event: x", b"\n", b"{}", b"id: 1", b" ", b"da", b"ta:"]
    for _ in range(20000):
        event = b"".join(rng.choice(parts) for _ in range(rng.randint(0, 7)))
        assert sse_data(event) == by_lines(event), event
