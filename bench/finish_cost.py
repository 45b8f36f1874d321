"""CPU of a request's bookkeeping, in-process: the Call record (request id), the in-flight gauge, the attempt
counter and Call.finish (every metric write into the multiprocess files, through gateway.metric_writers, and
the access-log line), for a forwarded non-streaming answer and a forwarded stream. Best of 5 x 20000.

    python -m bench.finish_cost
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="llm-link-finish-cost-"))

from gateway.accesslog import LOGGER, AccessLog
from gateway.call import Call
from gateway.metrics import Metrics


def one(metrics: Any, log: AccessLog, stream: bool) -> None:
    call = Call(None, "openai")
    call.metrics = metrics
    gauge = metrics.in_flight_for("openai")
    gauge.inc()
    call.model = call.model_label = "bench"
    call.provider = "up"
    call.upstream_model = "gpt-bench"
    call.upstream_label = "gpt-bench"
    call.target = "up/gpt-bench"
    call.attempts = 1
    call.upstream_seconds = 0.0004
    call.input_tokens, call.output_tokens = 12, 20
    call.stream = stream
    if stream:
        call.first_token = call.started + 0.0002
    metrics.child(metrics.attempts, "up", "gpt-bench", "ok").inc()
    gauge.dec()
    call.finish(metrics, log)


async def measure() -> None:
    LOGGER.setLevel(logging.INFO)
    metrics = Metrics()
    log = AccessLog(io.StringIO())  # lines batched by its timer, as under load
    for stream in (False, True):
        best = float("inf")
        for _ in range(5):
            log.stream = io.StringIO()
            t = time.process_time()
            for _ in range(20000):
                one(metrics, log, stream)
            log.flush()
            best = min(best, (time.process_time() - t) / 20000 * 1e6)
        print(f"{'stream' if stream else 'non-stream':10}: {best:5.2f} µs/request")


def main() -> None:
    asyncio.run(measure())


if __name__ == "__main__":
    main()
