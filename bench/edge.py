"""Figures for the safe-edge work (docs/security.md): what client-chosen model names cost in
/metrics size and worker memory, and what a worker killed with SIGKILL leaves behind (live workers,
concurrency slots of a key, the in-flight gauge).

    python -m bench.edge [--names 2000] [--json out.json]

Runs the gateway of this checkout on 127.0.0.1 with the mock provider only."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import time
from typing import Any

import aiohttp

from tests.harness import Gateway

KEY = "sk-edge-bench-key"


# ---------------------------------------------------------------------------------------------- /proc helpers


def worker_pids(metrics_text: str) -> list[int]:
    """Worker pids from the per-worker task gauge (published once a second by every worker)."""
    pids = {int(p) for p in re.findall(r'llm_link_worker_asyncio_tasks\{pid="(\d+)"\}', metrics_text)}
    return sorted(p for p in pids if os.path.exists(f"/proc/{p}"))


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connection_holders(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections to `port` each pid holds (socket inodes in /proc/net/tcp)."""
    inodes: set[str] = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "01" and int(local.split(":")[1], 16) == port:
                inodes.add(inode)
    held: dict[int, int] = {}
    for pid in pids:
        n = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    n += 1
        except OSError:
            continue
        held[pid] = n
    return held


# ---------------------------------------------------------------------------------------------- cardinality


async def _chat(session: aiohttp.ClientSession, url: str, model: str, headers: dict[str, str] | None = None) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    async with session.post(url + "/v1/chat/completions", json=body, headers=headers or {}) as resp:
        await resp.read()
        return resp.status


async def _metrics(session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> bytes:
    async with session.get(url + "/metrics", headers=headers or {}) as resp:
        return await resp.read()


async def cardinality(names: int, huge: int) -> dict[str, Any]:
    config = {
        "server": {"max_body_bytes": 8 * 1024 * 1024},
        "providers": {"mock": {"type": "mock"}},
        "models": {"demo": "mock/demo"},
    }
    out: dict[str, Any] = {}
    with Gateway(config) as gw:
        # Big field limits: the gateway used to echo the model name in a response header.
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120), max_field_size=4 << 20, max_line_size=4 << 20
        ) as session:
            for _ in range(3):
                await _chat(session, gw.url, "demo")
            await asyncio.sleep(1.2)
            text = (await _metrics(session, gw.url)).decode()
            pid = worker_pids(text)[0]
            out["metrics_bytes_before"] = len(text)
            out["rss_kib_before"] = rss_kib(pid)
            statuses: dict[int, int] = {}
            sem = asyncio.Semaphore(16)

            async def one(model: str) -> None:
                async with sem:
                    s = await _chat(session, gw.url, model)
                    statuses[s] = statuses.get(s, 0) + 1

            await asyncio.gather(*(one(f"mock/name-{i}") for i in range(names)))
            await asyncio.gather(*(one(f"nobody-{i}") for i in range(names // 2)))  # unknown: 404
            big = "x" * (1024 * 1024)
            for i in range(huge):
                await one(f"mock/{i}{big}")
            text = (await _metrics(session, gw.url)).decode()
            out["requests"] = statuses
            out["metrics_bytes_after"] = len(text)
            out["rss_kib_after"] = rss_kib(pid)
            labels = set(re.findall(r'llm_link_requests_total\{[^}]*model="([^"]*)"', text))
            out["distinct_model_labels"] = len(labels)
            out["largest_model_label"] = max((len(v) for v in labels), default=0)
    return out


# ---------------------------------------------------------------------------------------------- dead worker


async def _hold_stream(url: str, started: asyncio.Event, n: list[int]) -> None:
    """One long stream on its own connection; n = [started, refused, wanted]."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await _stream(session, url, started, n)


async def _stream(session: aiohttp.ClientSession, url: str, started: asyncio.Event, n: list[int]) -> None:
    body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "one two three four five"}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as resp:
            if resp.status != 200:
                n[1] += 1
                return
            await resp.content.readline()
            n[0] += 1
            if n[0] == n[2]:
                started.set()
            async for _ in resp.content:
                pass
    except (aiohttp.ClientError, asyncio.CancelledError):
        pass


def _gauge(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M))


async def dead_worker(slots: int, wait: float) -> dict[str, Any]:
    config = {
        "server": {"workers": 2},
        "providers": {"mock": {"type": "mock", "options": {"chunks": 400, "chunk_delay": 0.25}}},
        "models": {"slow": "mock/slow", "demo": "mock/demo"},
        "auth": {"keys": [{"name": "bench", "key": KEY, "max_concurrency": slots}]},
    }
    out: dict[str, Any] = {"max_concurrency": slots}
    gw = Gateway(config, workers=2)
    with gw:
        assert gw.proc is not None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            for _ in range(30):
                text = (await _metrics(session, gw.url)).decode()
                if len(worker_pids(text)) == 2:
                    break
                await asyncio.sleep(0.3)
            pids = worker_pids(text)
            out["workers_before"] = len(pids)
            started = asyncio.Event()
            counts = [0, 0, slots]
            holders = [asyncio.create_task(_hold_stream(gw.url, started, counts)) for _ in range(slots)]
            await asyncio.wait_for(started.wait(), 30)
            held = connection_holders(pids, gw.port)
            victim = max(held, key=lambda p: held[p])
            out["streams_on_killed_worker"] = held[victim]
            text = (await _metrics(session, gw.url)).decode()
            out["in_flight_before_kill"] = _gauge(text, "llm_link_in_flight_requests")
            os.kill(victim, signal.SIGKILL)
            t0 = time.monotonic()
            # The streams on the surviving worker end (client hangs up): those slots come back normally.
            await asyncio.sleep(0.5)
            for task in holders:
                task.cancel()
            await asyncio.gather(*holders, return_exceptions=True)
            await asyncio.sleep(wait)
            text = (await _metrics(session, gw.url)).decode()
            alive = children(gw.proc.pid)
            out["seconds_after_kill"] = round(time.monotonic() - t0, 1)
            out["worker_pids_on_metrics_after"] = len(worker_pids(text))
            out["child_processes_after"] = len(alive)
            out["in_flight_after"] = _gauge(text, "llm_link_in_flight_requests")
            # How many of the key's slots can be taken now: open streams until refused.
            started2 = asyncio.Event()
            counts2 = [0, 0, slots]
            probes = [asyncio.create_task(_hold_stream(gw.url, started2, counts2)) for _ in range(slots)]
            try:
                await asyncio.wait_for(started2.wait(), 10)
            except TimeoutError:
                pass
            await asyncio.sleep(1)
            out["slots_free_after"] = counts2[0]
            out["refused_after"] = counts2[1]
            for task in probes:
                task.cancel()
            await asyncio.gather(*probes, return_exceptions=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=2000)
    parser.add_argument("--huge", type=int, default=5, help="requests with 1 MB model names")
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--wait", type=float, default=5.0, help="seconds after the kill before looking")
    parser.add_argument("--json")
    args = parser.parse_args()
    result = {
        "cardinality": asyncio.run(cardinality(args.names, args.huge)),
        "dead_worker": asyncio.run(dead_worker(args.slots, args.wait)),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
