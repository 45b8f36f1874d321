"""A very fast mock LLM upstream for the benchmarks: a raw asyncio protocol (uvloop when present) that
answers from precomputed bytes, so a run measures the gateway, not the mock.

Speaks three wire formats on one port:
  POST /v1/chat/completions   OpenAI (SSE `data:` lines ending with `data: [DONE]`)
  POST /v1/messages           Anthropic (SSE `event:`/`data:` pairs ending with message_stop)
  POST /api/chat              Ollama (NDJSON, streams unless "stream": false)
  POST /v1/responses          OpenAI Responses API (LiteLLM sends Anthropic clients there)
  GET  /v1/models, /api/tags, /health

Streams have a fixed number of text chunks (--chunks). --latency delays every response; the model name
`slow` streams --slow-chunks chunks, one every --slow-delay seconds (the idle-streams scenario).

    python -m bench.upstream --port 9100 --chunks 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from typing import Any

_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
_STREAM_FALSE = re.compile(rb'"stream"\s*:\s*false')
_SLOW = re.compile(rb'"model"\s*:\s*"[^"]*slow')
_CREATED = 1735689600


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _http(status: str, ctype: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\ncontent-type: "
        + ctype
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: keep-alive\r\n\r\n"
        + body
    )


def _stream_head(ctype: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
    )


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_LAST_CHUNK = b"0\r\n\r\n"


# ------------------------------------------------------------------------------------------ wire bodies


def openai_events(n: int, usage: bool) -> list[bytes]:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": _CREATED, "model": "bench"}

    def ev(choices: list[Any], **extra: Any) -> bytes:
        obj = {**base, "choices": choices, **extra}
        if usage and "usage" not in extra:
            obj["usage"] = None
        return b"data: " + _json(obj) + b"\n\n"

    out = [ev([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])]
    out += [
        ev([{"index": 0, "delta": {"content": f"tok{i} "}, "logprobs": None, "finish_reason": None}]) for i in range(n)
    ]
    out.append(ev([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
    if usage:
        out.append(ev([], usage={"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}))
    out.append(b"data: [DONE]\n\n")
    return out


def openai_body(n: int) -> bytes:
    return _json(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": _CREATED,
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(f"tok{i} " for i in range(n))},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n},
        }
    )


def anthropic_events(n: int) -> list[bytes]:
    def ev(obj: dict[str, Any]) -> bytes:
        return b"event: " + obj["type"].encode() + b"\ndata: " + _json(obj) + b"\n\n"

    out = [
        ev(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_bench",
                    "type": "message",
                    "role": "assistant",
                    "model": "bench",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 12, "output_tokens": 1},
                },
            }
        ),
        ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    out += [
        ev({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}})
        for i in range(n)
    ]
    out += [
        ev({"type": "content_block_stop", "index": 0}),
        ev(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            }
        ),
        ev({"type": "message_stop"}),
    ]
    return out


def anthropic_body(n: int) -> bytes:
    return _json(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "bench",
            "content": [{"type": "text", "text": "".join(f"tok{i} " for i in range(n))}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": n},
        }
    )


def _responses_object(n: int, done: bool) -> dict[str, Any]:
    text = "".join(f"tok{i} " for i in range(n))
    item = {
        "id": "msg_bench",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": _CREATED,
        "model": "bench",
        "status": "completed" if done else "in_progress",
        "output": [item] if done else [],
        "usage": {
            "input_tokens": 12,
            "output_tokens": n,
            "total_tokens": 12 + n,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        if done
        else None,
    }


def responses_events(n: int) -> list[bytes]:
    """OpenAI Responses API stream (some peers translate Anthropic clients into it)."""
    seq = iter(range(1 << 30))

    def ev(obj: dict[str, Any]) -> bytes:
        obj["sequence_number"] = next(seq)
        return b"event: " + obj["type"].encode() + b"\ndata: " + _json(obj) + b"\n\n"

    text = "".join(f"tok{i} " for i in range(n))
    ids = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": text, "annotations": []}
    out = [
        ev({"type": "response.created", "response": _responses_object(n, False)}),
        ev({"type": "response.in_progress", "response": _responses_object(n, False)}),
        ev(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {
                    "id": "msg_bench",
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            }
        ),
        ev({"type": "response.content_part.added", **ids, "part": {**part, "text": ""}}),
    ]
    out += [ev({"type": "response.output_text.delta", **ids, "delta": f"tok{i} "}) for i in range(n)]
    done = _responses_object(n, True)
    out += [
        ev({"type": "response.output_text.done", **ids, "text": text}),
        ev({"type": "response.content_part.done", **ids, "part": part}),
        ev({"type": "response.output_item.done", "output_index": 0, "item": done["output"][0]}),
        ev({"type": "response.completed", "response": done}),
    ]
    return out


def ollama_events(n: int) -> list[bytes]:
    out = [
        _json(
            {
                "model": "bench",
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": f"tok{i} "},
                "done": False,
            }
        )
        + b"\n"
        for i in range(n)
    ]
    out.append(
        _json(
            {
                "model": "bench",
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 12,
                "eval_count": n,
            }
        )
        + b"\n"
    )
    return out


def ollama_body(n: int) -> bytes:
    return _json(
        {
            "model": "bench",
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "".join(f"tok{i} " for i in range(n))},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 12,
            "eval_count": n,
        }
    )


class Replies:
    """Every answer as ready-to-write bytes: (head, [chunks]) for streams, one blob otherwise."""

    def __init__(self, chunks: int, slow_chunks: int) -> None:
        sse, nd, js = b"text/event-stream", b"application/x-ndjson", b"application/json"
        self.plain = {
            b"/v1/chat/completions": _http("200 OK", js, openai_body(chunks)),
            b"/v1/messages": _http("200 OK", js, anthropic_body(chunks)),
            b"/api/chat": _http("200 OK", js, ollama_body(chunks)),
            b"/v1/responses": _http("200 OK", js, _json(_responses_object(chunks, True))),
        }
        self.streams: dict[tuple[bytes, bool, bool], tuple[bytes, list[bytes]]] = {}
        for slow in (False, True):
            n = slow_chunks if slow else chunks
            for usage in (False, True):
                self.streams[(b"/v1/chat/completions", usage, slow)] = (_stream_head(sse), openai_events(n, usage))
            self.streams[(b"/v1/messages", False, slow)] = (_stream_head(sse), anthropic_events(n))
            self.streams[(b"/api/chat", False, slow)] = (_stream_head(nd), ollama_events(n))
            self.streams[(b"/v1/responses", False, slow)] = (_stream_head(sse), responses_events(n))
        # Fast streams go out in one write: the mock's cost per request stays one syscall.
        self.blobs = {
            k: head + b"".join(_chunk(e) for e in evs) + _LAST_CHUNK for k, (head, evs) in self.streams.items()
        }
        models = _json(
            {"object": "list", "data": [{"id": "bench", "object": "model", "created": _CREATED, "owned_by": "bench"}]}
        )
        self.gets = {
            b"/v1/models": _http("200 OK", js, models),
            b"/api/tags": _http("200 OK", js, _json({"models": [{"name": "bench", "model": "bench"}]})),
            b"/health": _http("200 OK", js, b'{"ok":true}'),
        }
        # An OTLP/HTTP trace sink (an empty ExportTraceServiceResponse), for llm-link-traced.
        self.otlp = _http("200 OK", b"application/x-protobuf", b"")
        self.not_found = _http("404 Not Found", js, _json({"error": {"message": "not found", "type": "not_found"}}))


class Upstream(asyncio.Protocol):
    replies: Replies
    latency = 0.0
    chunk_delay = 0.0
    slow_delay = 1.0

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = 0  # delayed replies in progress; later pipelined requests wait behind them

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            length = 0
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                length = int(lower[at + 17 : stop if stop >= 0 else None])
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            line = head.split(b"\r\n", 1)[0].split(b" ")
            self.answer(line[0], line[1].split(b"?", 1)[0] if len(line) > 1 else b"/", body)

    def answer(self, method: bytes, path: bytes, body: bytes) -> None:
        r = self.replies
        if method == b"GET":
            self._write(r.gets.get(path, r.not_found))
            return
        if path == b"/v1/traces":
            self._write(r.otlp)
            return
        if path not in r.plain:
            # Tolerate prefixes a peer may add (e.g. /openai/v1/chat/completions).
            for known in r.plain:
                if path.endswith(known):
                    path = known
                    break
            else:
                self._write(r.not_found)
                return
        if path == b"/api/chat":  # Ollama streams unless told not to
            stream = _STREAM_FALSE.search(body) is None
        else:
            stream = _STREAM_TRUE.search(body) is not None
        if not stream:
            if self.latency:
                asyncio.get_running_loop().call_later(self.latency, self._write, r.plain[path])
            else:
                self._write(r.plain[path])
            return
        usage = path == b"/v1/chat/completions" and b"include_usage" in body
        slow = _SLOW.search(body) is not None
        key = (path, usage, slow)
        if not slow and not self.chunk_delay:
            if self.latency:
                asyncio.get_running_loop().call_later(self.latency, self._write, r.blobs[key])
            else:
                self._write(r.blobs[key])
            return
        head, events = r.streams[key]
        delay = self.slow_delay if slow else self.chunk_delay
        # The opening event and the first text go out at once: a gateway that waits for the first token
        # before answering (to turn early errors into plain HTTP errors) is not held up by the drip.
        parts = (
            [head + _chunk(events[0]) + _chunk(events[1])]
            + [_chunk(e) for e in events[2:-1]]
            + [_chunk(events[-1]) + _LAST_CHUNK]
        )
        self._drip(parts, 0, delay, self.latency)

    def _drip(self, parts: list[bytes], i: int, delay: float, first: float) -> None:
        # One timer per stream instead of a task: 10,000 idle streams cost the mock almost nothing.
        loop = asyncio.get_running_loop()
        if first:
            loop.call_later(first, self._drip, parts, i, delay, 0.0)
            return
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(parts[i])
        if i + 1 < len(parts):
            loop.call_later(delay, self._drip, parts, i + 1, delay, 0.0)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(host: str, port: int, ready: asyncio.Event | None = None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, host, port, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    if ready is not None:
        ready.set()
    print(f"bench upstream on http://{host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--chunks", type=int, default=20, help="text chunks per stream (and pieces per answer)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before every answer starts")
    p.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    p.add_argument("--slow-chunks", type=int, default=20, help="chunks of a `slow` model stream")
    p.add_argument("--slow-delay", type=float, default=1.0, help="seconds between chunks of a `slow` stream")
    a = p.parse_args(argv)
    Upstream.replies = Replies(a.chunks, a.slow_chunks)
    Upstream.latency, Upstream.chunk_delay, Upstream.slow_delay = a.latency, a.chunk_delay, a.slow_delay
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(a.host, a.port))


if __name__ == "__main__":
    main()
