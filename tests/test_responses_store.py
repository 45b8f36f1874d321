"""Stored responses (`responses.store`): with Redis, a follow-up with `previous_response_id` works on any
gateway and any worker, records expire after `responses.ttl`, and DELETE removes them; config errors for a
store without a Redis URL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import ROOT, Gateway
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _config(url: str, ttl: float = 600) -> dict[str, Any]:
    return {
        "providers": {"mock": {"type": "mock"}},
        "models": {"demo": "mock/demo"},
        "state": {"redis_url": url, "key_prefix": "resp-test"},
        "responses": {"store": "redis", "ttl": ttl},
    }


def _client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_follow_up_on_another_gateway_through_redis(redis_server: RedisServer) -> None:
    with Gateway(_config(redis_server.url), workers=2) as a, Gateway(_config(redis_server.url)) as b:
        first = _client(a).responses.create(model="demo", input="remember the word tangerine")
        # b never saw the first turn: it comes from Redis, with the conversation that led to it
        second = _client(b).responses.create(model="demo", input="which word?", previous_response_id=first.id)
        alone = _client(b).responses.create(model="demo", input="which word?")
        assert second.usage is not None and alone.usage is not None
        assert second.usage.input_tokens > alone.usage.input_tokens
        # output items are stored too: a reference to one resolves on any gateway
        ref: list[Any] = [{"type": "item_reference", "id": first.output[0].id}, {"role": "user", "content": "and?"}]
        assert _client(b).responses.create(model="demo", input=ref).status == "completed"
        for gw in (a, b, a):
            assert _client(gw).responses.retrieve(second.id).output_text == second.output_text
        _client(b).responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            _client(a).responses.retrieve(first.id)
        with pytest.raises(openai.BadRequestError):
            _client(a).responses.create(model="demo", input="x", previous_response_id=first.id)


def test_redis_down_costs_the_lookup_not_the_answer() -> None:
    from tests.fakes.server import free_port

    with Gateway(_config(f"redis://127.0.0.1:{free_port()}/0")) as gw:
        r = _client(gw).responses.create(model="demo", input="hello")  # answered, though not stored
        assert r.output_text
        with pytest.raises(openai.APIStatusError) as err:
            _client(gw).responses.create(model="demo", input="again", previous_response_id=r.id)
        assert err.value.status_code == 503 and "store unavailable" in err.value.message


def test_records_expire(redis_server: RedisServer) -> None:
    with Gateway(_config(redis_server.url, ttl=1)) as gw:
        r = _client(gw).responses.create(model="demo", input="short-lived")
        key = f"resp-test:resp:{r.id}"
        ttl = redis_server.client().ttl(key)
        assert 0 < ttl <= 1  # type: ignore[operator]


def test_redis_store_needs_a_redis_url(tmp_path: Any) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("providers: {m: {type: mock}}\nresponses: {store: redis}\n")
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.returncode == 1
    assert "responses.store: `redis` needs state.redis_url" in out.stdout + out.stderr
