"""CPU of the translated stream path, in-process: the mock upstream's 20-chunk OpenAI chat stream read
through the real `FramedStream` (SSE framer + chat chunk decoder), then written through the real stream
pump (`gateway.streaming._pump`) with the Anthropic and the Responses encoders, fed whole (one read, as
the mock sends it) and cut into 22 reads; plus a stream with a tool call. Best of 5 x 2000 streams; the
output's sha1 shows the bytes did not change.

    python -m bench.translate_cost
"""

from __future__ import annotations

import hashlib
import time
import types
from collections.abc import Callable
from typing import Any

import msgspec

from bench.upstream import openai_events
from dialects.anthropic import codec as anthropic_codec
from dialects.anthropic.stream import EventEncoder
from dialects.responses import codec_out
from dialects.responses import schema as wire
from dialects.responses.stream import ResponsesEncoder
from dialects.responses.tools import ToolMap
from gateway.streamed import StreamAnswer
from gateway.streaming import _pump
from providers.openai.stream import ChunkDecoder
from providers.sse import FramedStream, SSEFramer
from unified.types import Event


class _Content:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.i = 0

    async def readany(self) -> bytes:
        i = self.i
        self.i = i + 1
        return self.chunks[i] if i < len(self.chunks) else b""


class _Resp:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _Content(chunks)

    def release(self) -> None:
        pass


class _Answer:
    """What the pump sees of gateway.streamed.StreamAnswer: the first batch, then read() until []."""

    def __init__(self, stream: FramedStream, head: list[Event]) -> None:
        self.stream = stream
        self.head = head

    async def read(self) -> list[Event]:
        return await self.stream.read()

    ends = StreamAnswer.ends


def _run(coro: Any) -> Any:
    """Drive a coroutine that never really waits (every read is ready) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine waited")


def _envelope() -> codec_out.Envelope:
    body = msgspec.json.decode(
        b'{"model":"bench","input":"hi","store":false,"stream":true}', type=wire.ResponsesRequest
    )
    env = codec_out.Envelope(body, False)
    env.id = "resp_" + "0" * 48  # a fixed id, so that item ids and the output hash are fixed too
    env.head = b'{"id":"' + env.id.encode() + env.head[env.head.index(b'","object"') :]
    return env


def _tool_events() -> list[bytes]:
    def ev(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": "chatcmpl-t",
            "model": "bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + msgspec.json.encode(chunk) + b"\n\n"

    out = [ev({"role": "assistant", "content": "Let me look."})]
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "read", "arguments": ""}}
    out.append(ev({"tool_calls": [call]}))
    for piece in ('{"pa', 'th": "/', "etc/ho", 'sts"}'):
        out.append(ev({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    out.append(ev({}, "tool_calls"))
    out.append(b'data: {"id":"chatcmpl-t","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":7}}\n\n')
    out.append(b"data: [DONE]\n\n")
    return out


def stream_once(data: bytes, reads: int, make_encoder: Callable[[], Any]) -> bytes:
    size = max(1, -(-len(data) // reads))
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    stream = FramedStream(_Resp(chunks), SSEFramer("bench"), ChunkDecoder("bench", "bench"))  # type: ignore[arg-type]
    head = _run(stream.read())
    out: list[bytes] = []

    async def send(data: bytes, end_stream: bool = False) -> None:
        out.append(data)

    encoder = make_encoder()
    _run(_pump(_Answer(stream, head), encoder.feed, send, [0.0]))  # type: ignore[arg-type]
    return b"".join(out)


def cost(data: bytes, reads: int, make_encoder: Callable[[], Any], n: int = 2000) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            out = stream_once(data, reads, make_encoder)
        best = min(best, (time.process_time() - t) / n * 1e6)
    return best, out


def _fixed_clock_and_ids() -> None:
    """The output hash must not depend on the clock or on random ids: both are pinned for this process."""
    anthropic_codec.mint = lambda prefix, length=24: prefix + "0" * length  # type: ignore[assignment]
    codec_out.time = types.SimpleNamespace(time=lambda: 0.0)  # type: ignore[attr-defined]


def main() -> None:
    _fixed_clock_and_ids()
    env = _envelope()
    encoders: list[tuple[str, Callable[[], Any]]] = [
        ("anthropic", lambda: EventEncoder("bench")),
        ("responses", lambda: ResponsesEncoder(env, ToolMap())),
    ]
    streams = [("text", b"".join(openai_events(20, True))), ("tool", b"".join(_tool_events()))]
    for name, make in encoders:
        for kind, data in streams:
            for reads in (1, 22) if kind == "text" else (1,):
                us, out = cost(data, reads, make)
                digest = hashlib.sha1(out).hexdigest()[:10]
                print(f"{name:9} {kind} {reads:2} read(s): {us:6.1f} µs/stream  (out {len(out)} bytes, sha1 {digest})")


if __name__ == "__main__":
    main()
