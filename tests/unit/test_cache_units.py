"""The response cache's pure parts: a Response replayed as events and recorded back is the same Response;
the memory backend stays within its bounds; Cache-Control opt-outs; keys ignore what does not change the
answer."""

from __future__ import annotations

import asyncio

from gateway.cache import ResponseCache, policy
from gateway.cache.backends import MemoryBackend
from gateway.cache.replay import Recorder, events_of
from gateway.config import CacheConfig, ModelConfig
from gateway.router import Route
from unified.errors import GatewayError
from unified.types import (
    Event,
    Finish,
    Message,
    Request,
    Response,
    Start,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallPart,
    Usage,
)


class Plain:
    content_type = "text/plain"

    def feed(self, event: Event) -> bytes:
        return b"x"

    def error(self, err: GatewayError) -> bytes:
        return b"!"

    def ping(self) -> bytes | None:
        return None


ANSWER = Response(
    id="r1",
    model="m",
    content=[
        ThinkingPart("hmm", signature="sig"),
        TextPart("hello"),
        ToolCallPart("c1", "f", '{"a":1}'),
        ToolCallPart("c2", "g", "{}"),
    ],
    stop_reason="tool_calls",
    usage=Usage(input_tokens=5, output_tokens=3),
)


def test_a_recorded_replay_is_the_same_response() -> None:
    rec = Recorder(Plain(), 10_000)
    for event in events_of(ANSWER):
        rec.feed(event)
    assert rec.response() == ANSWER


def test_a_reasoning_items_payload_joins_its_text() -> None:
    rec = Recorder(Plain(), 10_000)
    for event in [Start("r", "m"), ThinkingDelta("a"), ThinkingDelta("b", encrypted="E"), TextDelta("t"), Finish()]:
        rec.feed(event)
    answer = rec.response()
    assert answer is not None and answer.content == [ThinkingPart("ab", encrypted="E"), TextPart("t")]


def test_a_stream_that_failed_or_grew_too_large_is_not_kept() -> None:
    events = events_of(ANSWER)
    failed = Recorder(Plain(), 10_000)
    for event in events[:-1]:
        failed.feed(event)
    failed.error(GatewayError("api_error", "cut"))
    assert failed.response() is None
    unfinished = Recorder(Plain(), 10_000)
    for event in events[:-1]:
        unfinished.feed(event)
    assert unfinished.response() is None
    big = Recorder(Plain(), 10)
    for event in [*events[:1], TextDelta("x" * 11), events[-1]]:
        big.feed(event)
    assert big.response() is None


def test_memory_backend_keeps_at_most_max_entries() -> None:
    async def run() -> None:
        mem = MemoryBackend(ttl=60, max_entries=3, max_bytes=10)
        for i in range(5):
            await mem.put(str(i), b"ab")
        assert [await mem.get(str(i)) for i in range(5)] == [None, None, b"ab", b"ab", b"ab"]
        await mem.put("big", b"0123456789")  # the byte bound pushes out older entries
        assert await mem.get("4") is None and await mem.get("big") == b"0123456789"

    asyncio.run(run())


def test_cache_control_opt_outs() -> None:
    assert policy(None) == "use"
    assert policy("max-age=0") == "use"
    assert policy("no-cache") == "refresh"
    assert policy("No-Store, no-cache") == "bypass"


def test_keys_ignore_stream_user_and_metadata_but_not_parameters() -> None:
    cache = ResponseCache(CacheConfig(), MemoryBackend(60, 10))
    route = Route("faq", [], ModelConfig(provider="p", model="m", cache=True))
    base = Request(model="faq", messages=[Message("user", [TextPart("hi")])])
    key = cache.key("team", route, base)
    same = Request(model="faq", messages=base.messages, stream=True, user="u", extra={"metadata": {"a": 1}})
    assert cache.key("team", route, same) == key
    assert cache.key("other-team", route, base) != key
    assert cache.key("team", route, Request(model="faq", messages=base.messages, temperature=0.5)) != key
    shared = ResponseCache(CacheConfig(shared=True), MemoryBackend(60, 10))
    assert shared.key("a", route, base) == shared.key("b", route, base)


def test_an_unreachable_redis_is_a_miss_not_a_failure() -> None:
    from gateway.cache.backends import RedisBackend
    from tests.fakes.server import free_port

    async def run() -> None:
        redis = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", "llm-link", 60)
        await redis.put("k", b"v")  # logged and skipped
        assert await redis.get("k") is None
        await redis.close()

    asyncio.run(run())
