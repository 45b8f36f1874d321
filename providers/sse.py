"""Incremental readers for the two streaming framings upstreams use: SSE (OpenAI, Anthropic, DashScope)
and NDJSON (Ollama). Both parse chunk by chunk as bytes arrive; nothing waits for the whole body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

from unified.errors import GatewayError

# One event or line larger than this is a broken or hostile upstream: stop before it eats the worker's memory.
MAX_EVENT_BYTES = 16 * 1024 * 1024


_FLUSH_MARK: tuple[str | None, bytes] = (None, b"")


async def _chunks(resp: aiohttp.ClientResponse, name: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    except TimeoutError:
        raise GatewayError("timeout", f"upstream {name!r} timed out mid-stream", status=504) from None
    except aiohttp.ClientError:
        raise GatewayError("upstream_unreachable", f"upstream {name!r} dropped the stream") from None


async def iter_sse(resp: aiohttp.ClientResponse, name: str) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield (event name, data) per SSE event; comments and id/retry lines are skipped, several data
    lines are joined with a newline. After the events of each network read comes (None, b""): the caller
    turns it into a unified Flush, so a burst goes to the client in one write."""
    buf = b""
    crlf = False
    yielded = False
    async for chunk in _chunks(resp, name):
        # Only the new bytes (plus 3 for a separator split across chunks) are searched: no rescans.
        start = max(0, len(buf) - 3)
        buf += chunk
        if crlf or b"\r" in chunk:
            crlf = True
            buf = buf.replace(b"\r\n", b"\n")
            start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            block, buf = buf[:end], buf[end + 2 :]
            start = 0
            event = _parse_block(block)
            if event is not None and event[1]:
                yielded = True
                yield event
        if yielded:
            yielded = False
            yield _FLUSH_MARK
        if len(buf) > MAX_EVENT_BYTES:
            raise _oversized(name)
    if buf.strip():
        event = _parse_block(buf)
        if event is not None:
            yield event


def _parse_block(block: bytes) -> tuple[str | None, bytes] | None:
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == 0x3A:  # ':' comment / keep-alive
            continue
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace").strip()
    if not data:
        return None
    return event, data[0] if len(data) == 1 else b"\n".join(data)


async def iter_ndjson(resp: aiohttp.ClientResponse, name: str) -> AsyncIterator[bytes]:
    """Yield each non-empty line; lines may be far longer than aiohttp's readline limit. After the lines
    of each network read comes b"" (the caller's cue for a unified Flush)."""
    buf = b""
    async for chunk in _chunks(resp, name):
        start = len(buf)
        buf += chunk
        yielded = False
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line, buf = buf[:end].strip(), buf[end + 1 :]
            start = 0
            if line:
                yielded = True
                yield line
        if yielded:
            yield b""
        if len(buf) > MAX_EVENT_BYTES:
            raise _oversized(name)
    if buf.strip():
        yield buf.strip()


def _oversized(name: str) -> GatewayError:
    return GatewayError("api_error", f"upstream {name!r} sent a stream event over {MAX_EVENT_BYTES} bytes", status=502)
