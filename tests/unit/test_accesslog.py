"""The access-log line (gateway.accesslog): the same JSON, key for key and byte for byte, as the dict the line
was first made from (kept below as the reference), over random requests; a line is written whole onto a UTF-8
stdout's byte buffer after any text waiting there, and as text onto any other stream."""

from __future__ import annotations

import asyncio
import io
import logging
import random
from typing import Any

import orjson

from gateway.accesslog import LOGGER, AccessLog
from gateway.call import Call
from gateway.edge import log_safe


def reference(call: Call, total: float) -> bytes:
    """The line as Call.finish wrote it with orjson before the Struct (the format users' log pipelines read)."""
    record: dict[str, Any] = {
        "request_id": call.request_id,
        "dialect": call.dialect,
        "model": log_safe(call.model) if call.model else None,
        "provider": call.provider or None,
        "status": call.status,
        "duration_ms": round(total * 1000, 2),
        "stream": call.stream,
    }
    if call.upstream_model:
        record["upstream_model"] = log_safe(call.upstream_model)
    if call.attempts > 1:
        record["attempts"] = call.attempts
    if call.input_tokens or call.output_tokens:
        record["tokens_in"] = call.input_tokens
        record["tokens_out"] = call.output_tokens
    if call.cost is not None:
        record["cost_usd"] = round(call.cost, 10)
    if call.key_name:
        record["key"] = call.key_name
    if call.error:
        record["error"] = log_safe(call.error, 300)
    return orjson.dumps(record)


def _text(rng: random.Random) -> str:
    return rng.choice(
        ["", "gpt-4o", "claude/sonnet", 'qu"ote\\', "ünï\u2028cödé\x00\x1f", "x" * 400, "\U0001f4a5" * 90]
    )


def _call(rng: random.Random) -> Call:
    call = Call(rng.choice([None, "client-id-1"]), rng.choice(["openai", "anthropic", "ollama"]))
    call.model = _text(rng)
    call.provider = rng.choice(["", "up", "local"])
    call.upstream_model = _text(rng)
    call.status = rng.choice([200, 400, 429, 499, 502])
    call.stream = rng.random() < 0.5
    call.attempts = rng.randrange(4)
    call.input_tokens = rng.choice([0, 0, 1, 12345])
    call.output_tokens = rng.choice([0, 0, 7])
    call.cost = rng.choice([None, 0.0, 1.23456789012345e-6, 0.5, 12.0])
    call.key_name = rng.choice([None, "", "team-a"])
    call.error = rng.choice([None, "", "upstream said no", _text(rng)])
    return call


def test_lines_are_the_json_of_the_reference_record() -> None:
    LOGGER.setLevel(logging.INFO)
    rng = random.Random(5)
    out = io.StringIO()
    log = AccessLog(out, interval=0)  # every line flushed at once: no event loop needed
    expected = []
    for _ in range(3000):
        call = _call(rng)
        total = rng.choice([0.0, 1e-7, 0.0123456, 2.5, rng.expovariate(2)])
        log.request(call, total)
        expected.append(reference(call, total).decode())
    assert out.getvalue() == "".join(line + "\n" for line in expected)


def test_no_line_while_the_access_logger_is_off() -> None:
    out = io.StringIO()
    log = AccessLog(out, interval=0)
    LOGGER.setLevel(logging.WARNING)
    try:
        log.request(Call(None, "openai"), 0.01)
    finally:
        LOGGER.setLevel(logging.INFO)
    log.request(Call("seen", "openai"), 0.01)
    assert [orjson.loads(line)["request_id"] for line in out.getvalue().splitlines()] == ["seen"]


def test_lines_go_onto_a_utf8_stdout_after_the_text_before_them() -> None:
    LOGGER.setLevel(logging.INFO)
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)
    log = AccessLog(stdout, interval=0)
    stdout.write("printed first\n")  # still in the text layer when the line comes
    call = Call("r1", "openai")
    call.model = "mödel"
    log.request(call, 0.5)
    assert raw.getvalue().decode().splitlines() == ["printed first", reference(call, 0.5).decode()]


def test_a_burst_is_batched_and_flushed_by_the_timer() -> None:
    LOGGER.setLevel(logging.INFO)
    out = io.StringIO()

    async def burst() -> None:
        log = AccessLog(out, interval=0.01)
        for i in range(5):
            log.request(Call(f"r{i}", "openai"), 0.001)
        assert len(out.getvalue().splitlines()) == 1  # the first went out at once, the rest wait
        await asyncio.sleep(0.05)

    asyncio.run(burst())
    assert [orjson.loads(line)["request_id"] for line in out.getvalue().splitlines()] == [f"r{i}" for i in range(5)]
