"""CPU per request of usage recording (gateway.store.usage): `record()` on the request path, plus the
batched write the background task does, per row. Measured in-process with process CPU time (all threads,
so the SQLite thread counts), on a Call shaped like a real one.

    python -m bench.usage_cost [--rows 20000] [--postgres postgresql://...]

With --postgres the figure is the gateway process's share only (encoding and the round trip); the server's
own CPU is on the database host."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from gateway.call import Call
from gateway.store import open_store
from gateway.store.usage import BATCH, UsageRecorder


def _call(i: int) -> Call:
    call = Call(None, "openai")
    call.model = "gpt-4o-mini"
    call.provider = "openai"
    call.key_name = "team-a"
    call.input_tokens, call.output_tokens = 120 + i % 7, 80
    return call


async def measure(url: str, rows: int) -> tuple[float, float]:
    store = open_store(url)
    await store.open()
    recorder = UsageRecorder(store, retention_days=30)
    calls = [_call(i) for i in range(rows)]
    t0 = time.process_time()
    for call in calls:
        recorder.record(call)
    record_us = (time.process_time() - t0) / rows * 1e6
    recorder.pending.clear()
    t0 = time.process_time()
    for start in range(0, rows, BATCH):
        for call in calls[start : start + BATCH]:
            recorder.record(call)
        await recorder.flush()
    total_us = (time.process_time() - t0) / rows * 1e6
    assert await store.count_usage() == rows
    await store.close()
    return record_us, total_us


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database) to measure as well")
    args = parser.parse_args()
    targets = [("sqlite (WAL)", f"sqlite:///{tempfile.mkdtemp()}/bench.db")]
    if args.postgres:
        targets.append(("postgresql", args.postgres))
    for name, url in targets:
        record_us, total_us = asyncio.run(measure(url, args.rows))
        print(f"{name}: record() {record_us:.1f} µs/request; record + batched write {total_us:.1f} µs/request")


if __name__ == "__main__":
    main()
