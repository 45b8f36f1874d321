"""Load generators: wrk (when installed: `apt-get install wrk`) and a bounded built-in Python fallback
(aiohttp), plus the raw-socket client that holds thousands of slow streams open at once."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int = 0  # completed requests (any status)
    errors: int = 0  # connect/read/write errors, timeouts, non-2xx, truncated streams
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    tool: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


_LUA = """
wrk.method = "POST"
wrk.body = %s
%s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p99_us":%%d}\\n', summary.requests, summary.duration, e.connect,
    e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(s: str) -> str:
    return "[==[" + s + "]==]"


def run_wrk(url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float) -> LoadResult:
    hdr = "\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA % (_lua_string(body.decode()), hdr))
        script = f.name
    threads = 1 if concurrency < 128 else 2
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(concurrency),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        script,
        url,
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(script)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    d = json.loads(line[len("BENCHJSON ") :])
    errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
    return LoadResult(
        requests=d["requests"],
        errors=errors,
        seconds=d["duration_us"] / 1e6,
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        tool="wrk",
        detail=d,
    )


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q / 100 * len(sorted_ms)))]


async def _python_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    max_requests: int | None,
    end_marker: bytes | None,
) -> LoadResult:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    budget = [max_requests if max_requests is not None else 1 << 62]

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    data = await resp.read()
                    ok = resp.status < 300 and (end_marker is None or end_marker in data[-400:])
            except (TimeoutError, aiohttp.ClientError, OSError):
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            if not ok:
                errors += 1

    timeout = aiohttp.ClientTimeout(total=30)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        errors=errors,
        seconds=elapsed,
        p50_ms=_percentile(latencies, 50),
        p99_ms=_percentile(latencies, 99),
        tool="python",
    )


def run_python(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    max_requests: int | None = None,
    end_marker: bytes | None = None,
) -> LoadResult:
    """Bounded by time and (optionally) count; also checks each stream reached its end marker."""
    return asyncio.run(_python_load(url, body, headers, concurrency, seconds, max_requests, end_marker))


def run_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    tool: str = "auto",
    end_marker: bytes | None = None,
    max_requests: int | None = None,
) -> LoadResult:
    if tool == "wrk" or (tool == "auto" and have_wrk()):
        return run_wrk(url, body, headers, concurrency, seconds)
    return run_python(url, body, headers, concurrency, seconds, max_requests, end_marker)


# ------------------------------------------------------------------------------------- many slow streams


@dataclass
class HoldResult:
    streams: int
    opened: int = 0  # got response headers and a first chunk
    completed: int = 0  # read to the end marker
    errors: int = 0
    peak_concurrent: int = 0
    ramp_seconds: float = 0.0
    error_kinds: dict[str, int] = field(default_factory=dict)


async def hold_streams(
    url: str,
    body: bytes,
    headers: dict[str, str],
    streams: int,
    end_marker: bytes,
    on_all_open: Any = None,
    pending: int = 64,
    timeout: float = 300,  # noqa: ASYNC109 - one bound for the whole hold, not a per-call timeout
) -> HoldResult:
    """Open `streams` streaming requests (one connection each, raw sockets: light enough for 10,000 in one
    process), call on_all_open() once every stream has delivered its first chunk, then read all to the end.

    At most `pending` streams are connecting at once (waiting for their first chunk): the ramp follows the
    server's pace, so its listen backlog never overflows (an overflow shows up as resets, not as memory)."""
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    head = (
        f"POST {u.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode() + body
    res = HoldResult(streams)
    live = 0
    all_open = asyncio.Event()
    gate = asyncio.Semaphore(pending)

    def fail(kind: str) -> None:
        res.errors += 1
        res.error_kinds[kind] = res.error_kinds.get(kind, 0) + 1

    async def one() -> None:
        nonlocal live
        counted = False
        writer = None
        await gate.acquire()
        gated = True
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
            writer.write(head)
            first = await reader.readuntil(b"\r\n\r\n")
            if not first.startswith(b"HTTP/1.1 200"):
                fail("status " + first[9:12].decode(errors="replace"))
                return
            tail = await reader.read(65536)  # first chunk
            if not tail:
                fail("empty stream")
                return
            res.opened += 1
            gate.release()
            gated = False
            live += 1
            counted = True
            res.peak_concurrent = max(res.peak_concurrent, live)
            if res.opened + res.errors >= streams:
                all_open.set()
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                tail = (tail + data)[-2000:]
            if end_marker in tail:
                res.completed += 1
            else:
                fail("truncated")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
            fail(type(err).__name__ + (f" errno {err.errno}" if isinstance(err, OSError) and err.errno else ""))
        finally:
            if gated:
                gate.release()
            if counted:
                live -= 1
            if res.opened + res.errors >= streams:
                all_open.set()
            if writer is not None:
                writer.close()

    started = time.perf_counter()
    tasks = [asyncio.create_task(one()) for _ in range(streams)]
    try:
        await asyncio.wait_for(all_open.wait(), timeout)
    except TimeoutError:
        pass
    res.ramp_seconds = time.perf_counter() - started
    if on_all_open is not None:
        await on_all_open()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
        fail("timeout")
    return res
