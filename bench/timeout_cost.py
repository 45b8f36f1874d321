"""CPU of an upstream call's whole-request timeout, in-process: the bench mock upstream (bench.upstream) on
127.0.0.1 and a real `openai` provider's `forward` (the same-API lane's upstream call) on one loop, a
non-streaming answer read whole and a 20-chunk stream read to the end, with:

  none        no whole-call timeout at all (what a relay without one costs)
  aiohttp     `ClientTimeout(total=timeout)` on every call (one loop timer armed and cancelled per call)
  sweeper     the worker's deadline sweeper (providers.deadlines), as the gateway runs it

c=1, so the mock's CPU is in every figure alike; the differences are the timeout's. Best of 5 x 2000.

    python -m bench.timeout_cost
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson

from bench.upstream import Replies, Upstream
from gateway.config.schema import ProviderConfig
from providers.deadlines import Deadlines
from providers.openai.provider import OpenAIProvider
from unified.provider import Upstream as Up

CALLS = 2000


async def one(provider: OpenAIProvider, body: bytes, stream: bool, up: Up) -> None:
    resp = await provider.forward("/chat/completions", body, {}, up, stream=stream)
    try:
        if stream:
            content = resp.content
            while await content.readany():
                pass
        else:
            await resp.read()
    finally:
        resp.release()


async def measure() -> None:
    Upstream.replies = Replies(20, 20)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trust_env=False)
    cfg = ProviderConfig(type="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key="bench")
    provider = OpenAIProvider("up", cfg, None, session)
    none = aiohttp.ClientTimeout(total=None, sock_connect=cfg.connect_timeout)
    up = Up()
    variants: dict[str, Any] = {"none": none, "aiohttp": provider.timeout, "sweeper": None}
    deadlines = Deadlines()
    for stream in (False, True):
        body = orjson.dumps({"model": "bench", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(5):
            for name, timeout in variants.items():
                if timeout is None:
                    provider.deadlines = deadlines
                else:
                    provider.deadlines, provider.timeout = None, timeout
                t = time.process_time()
                for _ in range(CALLS):
                    await one(provider, body, stream, up)
                best[name] = min(best[name], (time.process_time() - t) / CALLS * 1e6)
        provider.timeout = variants["aiohttp"]
        label = "stream" if stream else "non-stream"
        print(
            f"{label:10}: "
            + "  ".join(f"{name} {us:6.1f} µs" for name, us in best.items())
            + f"   (aiohttp - none {best['aiohttp'] - best['none']:+.1f} µs, "
            f"sweeper - none {best['sweeper'] - best['none']:+.1f} µs)"
        )
    assert not len(deadlines), "every finished call's deadline was dropped"
    deadlines.close()
    await session.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(measure())
