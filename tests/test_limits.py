"""Per-key limits over HTTP: requests and tokens per minute, concurrency, monthly quotas — within one
process group (shared memory, --workers 2) and across gateways sharing a real redis-server, including a
Redis that goes away mid-test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.harness import Gateway
from tests.redis_server import RedisServer

LONG = "please repeat this sentence back to me word for word " * 4  # ~50 tokens in, ~55 out with the mock
MSG = [{"role": "user", "content": "hi"}]


def keys(prefix: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix}-rpm", "key": f"sk-{prefix}-rpm", "rpm": 4},
        {"name": f"{prefix}-tpm", "key": f"sk-{prefix}-tpm", "tpm": 100},
        {"name": f"{prefix}-quota", "key": f"sk-{prefix}-quota", "monthly_tokens": 100},
        {"name": f"{prefix}-conc", "key": f"sk-{prefix}-conc", "max_concurrency": 1},
        {"name": f"{prefix}-free", "key": f"sk-{prefix}-free"},
    ]


def config(prefix: str, redis_url: str | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "providers": {"mock": {"type": "mock"}, "slow": {"type": "mock", "options": {"latency": 1.5}}},
        "models": {"demo": "mock/demo", "slow": "slow/slow"},
        "auth": {"keys": keys(prefix)},
    }
    if redis_url:
        cfg["state"] = {"redis_url": redis_url}
    return cfg


def chat(gw: Gateway, key: str, content: str = "hi", model: str = "demo") -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": content}]},
        timeout=30,
    )


def wait_in_flight(gw: Gateway) -> None:
    for _ in range(200):
        text = httpx.get(gw.url + "/metrics").text
        if any(
            line.startswith('llm_link_in_flight_requests{dialect="openai"}') and float(line.split()[-1]) >= 1
            for line in text.splitlines()
        ):
            return
        time.sleep(0.02)
    raise AssertionError("the slow request never started")


def metric(gw: Gateway, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---------------------------------------------------------------------------------------------- one process group


@pytest.fixture(scope="module")
def local_gw() -> Iterator[Gateway]:
    with Gateway(config("local"), workers=2) as gw:
        yield gw


def test_rpm_holds_across_two_workers(local_gw: Gateway) -> None:
    statuses = [chat(local_gw, "sk-local-rpm").status_code for _ in range(8)]
    assert statuses.count(200) == 4 and statuses[:4] == [200] * 4
    r = chat(local_gw, "sk-local-rpm")
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["type"] == "rate_limit_error" and "4 requests per minute" in err["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["x-ratelimit-limit-requests"] == "4"
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-reset-requests"].endswith("s")


def test_success_carries_openai_ratelimit_headers(local_gw: Gateway) -> None:
    r = chat(local_gw, "sk-local-tpm")
    assert r.status_code == 200
    assert r.headers["x-ratelimit-limit-tokens"] == "100"
    assert int(r.headers["x-ratelimit-remaining-tokens"]) <= 100
    assert "x-ratelimit-limit-requests" not in r.headers  # no rpm on this key


def test_tpm_request_crossing_the_line_completes_next_is_refused(local_gw: Gateway) -> None:
    client = openai.OpenAI(base_url=local_gw.url + "/v1", api_key="sk-local-tpm", max_retries=0)
    r = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": LONG}])
    assert r.usage is not None and r.usage.total_tokens > 100  # crosses the line, still answered
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="demo", messages=MSG)
    assert "100 tokens per minute" in info.value.message
    assert info.value.response.headers["x-ratelimit-remaining-tokens"] == "0"


def test_monthly_quota_is_429_with_clear_message(local_gw: Gateway) -> None:
    assert chat(local_gw, "sk-local-quota", LONG).status_code == 200
    r = chat(local_gw, "sk-local-quota")
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["code"] == "insufficient_quota" and "Monthly token quota of 100" in err["message"]
    assert int(r.headers["retry-after"]) > 0


def test_concurrency_limit_and_slot_returned(local_gw: Gateway) -> None:
    results: list[int] = []
    t = threading.Thread(target=lambda: results.append(chat(local_gw, "sk-local-conc", model="slow").status_code))
    t.start()
    wait_in_flight(local_gw)
    r = chat(local_gw, "sk-local-conc")
    t.join()
    assert results == [200]
    assert r.status_code == 429 and "at most 1" in r.json()["error"]["message"]
    assert chat(local_gw, "sk-local-conc").status_code == 200  # the slot came back


def test_quota_refusal_in_anthropic_shape(local_gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=local_gw.url + "/anthropic", api_key="sk-local-quota", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as info:  # the quota was spent above, in another dialect
        client.messages.create(model="demo", max_tokens=20, messages=MSG)
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_listing_models_does_not_count(local_gw: Gateway) -> None:
    for _ in range(3):
        assert (
            httpx.get(local_gw.url + "/v1/models", headers={"Authorization": "Bearer sk-local-rpm"}).status_code == 200
        )


def test_rate_limited_metric(local_gw: Gateway) -> None:
    assert metric(local_gw, "llm_link_rate_limited_total", key="local-rpm", limit="requests") >= 1


# ---------------------------------------------------------------------------------------------- shared Redis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def pair(redis_server: RedisServer) -> Iterator[tuple[Gateway, Gateway]]:
    """Two gateways (replicas), one of them with two workers, sharing one Redis."""
    with Gateway(config("shared", redis_server.url), workers=2) as a, Gateway(config("shared", redis_server.url)) as b:
        yield a, b


def test_rpm_shared_by_two_replicas(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    rs = [chat(gw, "sk-shared-rpm") for gw in (a, b, a, b, a, b)]
    assert [r.status_code for r in rs] == [200, 200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in rs[:4]] == ["3", "2", "1", "0"]
    assert "4 requests per minute" in rs[5].json()["error"]["message"]


def test_tpm_shared_by_two_replicas(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    assert chat(a, "sk-shared-tpm", LONG).status_code == 200
    r = chat(b, "sk-shared-tpm")
    assert r.status_code == 429 and "tokens per minute" in r.json()["error"]["message"]


def test_quota_shared_and_kept_in_redis(pair: tuple[Gateway, Gateway], redis_server: RedisServer) -> None:
    a, b = pair
    stream = openai.OpenAI(base_url=a.url + "/v1", api_key="sk-shared-quota", max_retries=0).chat.completions.create(
        model="demo", stream=True, messages=[{"role": "user", "content": LONG}]
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)  # a stream spends tokens too
    r = chat(b, "sk-shared-quota")
    assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"
    month = time.strftime("%Y%m", time.gmtime())
    assert int(redis_server.client().get(f"llm-link:{{shared-quota}}:month:{month}")) > 100


def test_concurrency_shared_by_two_replicas(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    results: list[int] = []
    t = threading.Thread(target=lambda: results.append(chat(a, "sk-shared-conc", model="slow").status_code))
    t.start()
    wait_in_flight(a)
    r = chat(b, "sk-shared-conc")
    t.join()
    assert results == [200] and r.status_code == 429
    assert chat(b, "sk-shared-conc").status_code == 200


def test_unlimited_key_never_refused(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    assert all(chat(gw, "sk-shared-free").status_code == 200 for gw in (a, b, a, b, a, b))


# ---------------------------------------------------------------------------------------------- Redis goes away


def redis_rpm_count(server: RedisServer, name: str) -> int:
    return sum(int(v) for v in server.client().hgetall(f"llm-link:{{{name}}}:rpm").values())


def test_redis_down_fails_open_and_limits_resume() -> None:
    server = RedisServer().start()
    try:
        cfg = config("flaky", server.url)
        cfg["auth"]["keys"][0]["rpm"] = 3
        with Gateway(cfg) as gw:
            assert chat(gw, "sk-flaky-rpm").status_code == 200
            assert redis_rpm_count(server, "flaky-rpm") == 1

            server.stop()
            # Requests keep flowing, counted in-process meanwhile, with a warning and a metric.
            assert [chat(gw, "sk-flaky-rpm").status_code for _ in range(2)] == [200, 200]
            assert metric(gw, "llm_link_limiter_fallback_total") >= 1
            assert "Redis unreachable" in gw.log()

            server.start()  # same port, empty (no persistence)
            for _ in range(100):
                if chat(gw, "sk-flaky-rpm").status_code == 200 and redis_rpm_count(server, "flaky-rpm"):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("counting never returned to Redis")
            # Redis counts again: the limit of 3 holds on its count.
            statuses = [chat(gw, "sk-flaky-rpm").status_code for _ in range(4)]
            assert redis_rpm_count(server, "flaky-rpm") == 3
            assert statuses.count(200) == 2 and statuses[-1] == 429
            assert "Redis is reachable again" in gw.log()
    finally:
        server.stop()
