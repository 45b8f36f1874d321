"""A short soak (bench/soak.py's traffic for a few seconds, one worker): mixed dialects, streams, clients
hanging up mid-stream, upstream faults. Only what holds on any machine is asserted: every healthy request
succeeds, nothing is a 500 from our own code, in-flight returns to 0, the worker's live asyncio tasks go back
to their idle count (a leaked task per request or per hang-up would stay), and the worker is still there.
Growth of RSS and fds over time is judged by the full run (`python -m bench.soak --minutes 5`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import aiohttp
import pytest

from bench import soak
from dialects import DIALECTS
from tests.fakes.faulty_upstream import FaultyUpstream
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway


@pytest.fixture(scope="module")
def soak_gateway() -> Iterator[Gateway]:
    up = FaultyUpstream()
    server = ThreadedServer(up.app).start()
    config = {
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 6, "chunk_delay": 0.002}},
            "up": {
                "type": "openai",
                "base_url": server.url + "/v1",
                "api_key": "sk-soak",
                "timeout": 30,
                "read_timeout": 1,
            },
        },
        "models": {
            "demo": "mock/demo",
            "up-ok": {"provider": "up", "model": "ok", "retries": 0},
            **{f"up-{f}": {"provider": "up", "model": f, "retries": 0} for f in soak.FAULTS},
        },
    }
    with Gateway(config) as gw:
        yield gw
    server.stop()


async def _idle_sample(url: str) -> soak.Sample:
    async with aiohttp.ClientSession() as session:
        for _ in range(50):  # the task gauge is published once a second
            s = await soak.sample(session, url, 0.0, soak.Tally())
            if s.workers:
                return s
            await asyncio.sleep(0.1)
    raise AssertionError("no llm_link_worker_asyncio_tasks on /metrics")


def test_short_soak_leaves_nothing_behind(soak_gateway: Gateway) -> None:
    url = soak_gateway.url
    before = asyncio.run(_idle_sample(url))
    dialects = [d for d in ("openai", "anthropic", "ollama") if d in DIALECTS]
    tally, samples, settle, _ = asyncio.run(soak.soak(url, 0.25, 1500, 16, 1.0, dialects))
    assert tally.done >= 200 and tally.hung_up > 0
    assert not tally.bad, tally.bad[:5]
    assert settle[-1].in_flight == 0
    ((pid, idle),) = before.workers.items()
    after = asyncio.run(_idle_sample(url))
    # Settled: the gauge is sampled once a second, so give it a moment after in-flight reached 0.
    for _ in range(30):
        if after.workers[pid]["tasks"] <= idle["tasks"] + 2:
            break
        asyncio.run(asyncio.sleep(0.2))
        after = asyncio.run(_idle_sample(url))
    assert after.workers[pid]["tasks"] <= idle["tasks"] + 2, (idle, after.workers[pid])
    assert os.path.exists(f"/proc/{pid}")
    assert "Traceback" not in soak_gateway.log()
