"""CPU of a forwarded non-streaming OpenAI chat request, in-process: the real llm-link app (Sanic's HTTP
server, the openai dialect, routing, the forwarding lane, the dispatcher, the provider's aiohttp call,
metrics and the access log) and the bare passthrough (bench.passthrough) served on one uvloop loop next to
the bench mock upstream and a minimal keep-alive HTTP client, all in this process.

Every figure holds the client's and the mock's CPU too (the same for both servers), so the difference
`llm-link - passthrough` is what the gateway adds; the ratio understates the real one. Rounds alternate
the servers; best of ROUNDS x CALLS per server.

    python -m bench.path_cost [--calls 3000] [--rounds 7] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="llm-link-path-cost-"))

from bench.upstream import Replies, Upstream

BODY = b'{"model": "bench", "messages": [{"role": "user", "content": "Write one short sentence about latency."}], "stream": false}'


class Client(asyncio.Protocol):
    """One keep-alive connection sending the same request each time an answer (Content-Length framed) ends."""

    def __init__(self, request: bytes, done: asyncio.Future[None], counter: list[int]) -> None:
        self.request = request
        self.done = done
        self.counter = counter
        self.buf = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            at = buf.lower().find(b"content-length:", 0, head_end)
            assert at >= 0, buf[:head_end]
            if not buf.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"bad answer: {buf[:300]!r}")
            length = int(buf[at + 15 : buf.find(b"\r\n", at)])
            end = head_end + 4 + length
            if len(buf) < end:
                break
            buf = buf[end:]
            self.counter[0] -= 1
            if self.counter[0] > 0:
                self.transport.write(self.request)
            elif not self.done.done():
                self.done.set_result(None)
        self.buf = buf


async def run_load(port: int, path: str, headers: str, calls: int, concurrency: int) -> float:
    loop = asyncio.get_running_loop()
    request = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
    done: asyncio.Future[None] = loop.create_future()
    counter = [calls + concurrency - 1]  # every connection's last answer also counts; stop when all are in
    transports = []
    for _ in range(concurrency):
        t, _p = await loop.create_connection(lambda: Client(request, done, counter), "127.0.0.1", port)
        transports.append(t)
    await asyncio.sleep(0.05)
    t0 = time.process_time()
    for t in transports:
        t.write(request)
    await done
    spent = time.process_time() - t0
    for t in transports:
        t.close()
    await asyncio.sleep(0.02)
    return spent / calls * 1e6


async def measure(calls: int, rounds: int, concurrency: int, only: str | None = None) -> None:
    import logging

    from bench.passthrough import create_app as passthrough_app
    from bench.systems import free_port
    from gateway.accesslog import LOGGER, AccessLog
    from gateway.app import create_app
    from gateway.config.validate import parse

    loop = asyncio.get_running_loop()
    Upstream.replies = Replies(20, 20)
    mock = await loop.create_server(Upstream, "127.0.0.1", 0)
    up_port = mock.sockets[0].getsockname()[1]
    upstream = f"http://127.0.0.1:{up_port}"
    cfg = parse(
        {
            "server": {"host": "127.0.0.1", "port": 0, "workers": 1, "log_level": "info"},
            "providers": {"up": {"type": "openai", "base_url": upstream + "/v1", "api_key": "sk-bench-upstream"}},
            "models": {"bench": "up/bench"},
        },
        "bench",
    )
    servers: dict[str, tuple[int, str]] = {}
    started = []
    apps = [("llm-link", create_app(cfg, "llm_link_path_cost")), ("passthrough", passthrough_app(upstream))]
    for name, app in apps:
        if only is not None and name != only:
            continue
        if started:
            app.config.TOUCHUP = False  # Sanic's Http class is rewritten once per process, by the first app
        port = free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        app.asgi = True  # only so that listeners may name tasks outside app.run (Sanic's loop check)
        await server.before_start()
        await server.after_start()
        app.asgi = False
        started.append(server)
        servers[name] = (port, "Content-Type: application/json\r\nAuthorization: Bearer sk-bench\r\n")
        if name == "llm-link":
            app.ctx.access_log = AccessLog(io.StringIO())  # lines written as under load, kept in memory
    LOGGER.setLevel(logging.INFO)
    logging.getLogger("sanic.root").setLevel(logging.WARNING)
    for port, headers in servers.values():  # warm-up
        await run_load(port, "/v1/chat/completions", headers, 500, concurrency)
    best = dict.fromkeys(servers, float("inf"))
    for _ in range(rounds):
        for name, (port, headers) in servers.items():
            best[name] = min(best[name], await run_load(port, "/v1/chat/completions", headers, calls, concurrency))
    if only is not None:
        print(f"non-stream c={concurrency}: {only} {best[only]:6.1f} µs")
        return
    ours, base = best["llm-link"], best["passthrough"]
    print(
        f"non-stream c={concurrency}: llm-link {ours:6.1f} µs  passthrough {base:6.1f} µs  "
        f"gap {ours - base:+6.1f} µs  ratio {ours / base:.3f} (client and mock CPU in both)"
    )
    for server in started:
        await server.before_stop()
        await server.close()  # type: ignore[misc]
        await server.after_stop()
    mock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", choices=("llm-link", "passthrough"), help="one server (e.g. under py-spy)")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(measure(args.calls, args.rounds, args.concurrency, args.only))
    except ImportError:
        asyncio.run(measure(args.calls, args.rounds, args.concurrency, args.only))


if __name__ == "__main__":
    main()
