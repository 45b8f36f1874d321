"""Budgets in dollars per key: a key stops at its budget across the workers of one gateway
(shared memory) and across gateways sharing a real redis-server; the refusal is a 429 in the caller's
dialect that says budget; the remaining budget is in x-ratelimit-*-budget headers; a Redis that cannot
be reached fails open to local counting, as the rate limits do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.budget import period_id
from gateway.config import ConfigError, parse
from tests.fakes.server import free_port
from tests.harness import Gateway
from tests.redis_server import RedisServer

# The mock answers "ok" (one output token) and the model costs $1 per output token, nothing for input: every
# answer costs exactly $1.
PROVIDERS = {"mock": {"type": "mock", "options": {"reply": "ok"}}}
MODELS = {"dollar": {"provider": "mock", "model": "dollar", "price": {"input": 0, "output": 1_000_000}}}


def config(prefix: str, redis_url: str | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "providers": PROVIDERS,
        "models": MODELS,
        "auth": {
            "keys": [
                {"name": f"{prefix}-month", "key": f"sk-{prefix}-month", "budget": {"usd": 2.5, "period": "month"}},
                {"name": f"{prefix}-day", "key": f"sk-{prefix}-day", "budget": {"usd": 1, "period": "day"}},
                {
                    "name": f"{prefix}-both",
                    "key": f"sk-{prefix}-both",
                    "rpm": 100,
                    "budget": {"usd": 1.5, "period": "day"},
                },
                {"name": f"{prefix}-free", "key": f"sk-{prefix}-free"},
            ]
        },
    }
    if redis_url:
        cfg["state"] = {"redis_url": redis_url}
    return cfg


def chat(gw: Gateway, key: str) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "dollar", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )


# ---------------------------------------------------------------------------------------------- one gateway


@pytest.fixture(scope="module")
def local_gw() -> Iterator[Gateway]:
    with Gateway(config("local"), workers=2) as gw:
        yield gw


def test_key_stops_at_its_budget_across_workers(local_gw: Gateway) -> None:
    rs = [chat(local_gw, "sk-local-month") for _ in range(5)]  # fresh connections: both workers answer
    assert [r.status_code for r in rs] == [200, 200, 200, 429, 429]
    assert [r.headers["X-LLM-Link-Cost-USD"] for r in rs[:3]] == ["1", "1", "1"]
    assert [r.headers["x-ratelimit-remaining-budget"] for r in rs] == ["2.5", "1.5", "0.5", "0", "0"]
    assert all(r.headers["x-ratelimit-limit-budget"] == "2.5" for r in rs)
    err = rs[3].json()["error"]
    assert "budget" in err["message"].lower() and "$3.00" in err["message"] and "$2.50" in err["message"]
    assert err["code"] == "budget_exceeded" and err["type"] == "rate_limit_error"
    assert int(rs[3].headers["Retry-After"]) == pytest.approx(period_id("month", time.time())[1], abs=120)


def test_budget_refusal_in_the_anthropic_dialect(local_gw: Gateway) -> None:
    client = anthropic.Anthropic(base_url=local_gw.url + "/anthropic", api_key="sk-local-day", max_retries=0)
    client.messages.create(model="dollar", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="dollar", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body = info.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "budget" in body["error"]["message"].lower() and "today" in body["error"]["message"]
    # A day's budget renews at the next UTC midnight.
    assert int(info.value.response.headers["retry-after"]) <= 86400


def test_streams_are_charged_too(local_gw: Gateway) -> None:
    client = openai.OpenAI(base_url=local_gw.url + "/v1", api_key="sk-local-both", max_retries=0)
    for _ in range(2):
        stream = client.chat.completions.create(
            model="dollar", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "ok"
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="dollar", messages=[{"role": "user", "content": "hi"}])
    assert "budget" in str(info.value).lower()
    # The budget refusal takes no rate-limit slot, and both sets of headers come on answers.
    r = chat(local_gw, "sk-local-free")
    assert r.status_code == 200 and "x-ratelimit-remaining-budget" not in r.headers


def test_budget_headers_beside_rate_limit_headers() -> None:
    cfg = config("hdr")
    with Gateway(cfg) as gw:
        r = chat(gw, "sk-hdr-both")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-remaining-requests"] == "99"
        assert r.headers["x-ratelimit-remaining-budget"] == "1.5"
        assert r.headers["x-ratelimit-reset-budget"]
        text = httpx.get(gw.url + "/metrics").text
        assert 'llm_link_key_cost_total{key="hdr-both",model="dollar"} 1.0' in text
        assert 'llm_link_key_budget_remaining_usd{key="hdr-both"} 0.5' in text  # $1.50 - $1 just spent


def test_budget_config_is_checked() -> None:
    base = {"providers": PROVIDERS, "models": MODELS}
    with pytest.raises(ConfigError) as info:
        parse({**base, "auth": {"keys": [{"name": "a", "key": "k", "budget": {"usd": 0}}]}}, "test")
    assert any(p.startswith("auth.keys[0].budget.usd") for p in info.value.problems)
    with pytest.raises(ConfigError) as info:
        parse({**base, "auth": {"keys": [{"name": "a", "key": "k", "budget": {"usd": 5, "period": "week"}}]}}, "test")
    assert any("auth.keys[0]" in p and "period" in p for p in info.value.problems)


def test_periods_roll_over_at_utc_midnight_and_month_start() -> None:
    import calendar

    dec31 = calendar.timegm((2026, 12, 31, 23, 59, 30))
    assert period_id("day", dec31) == (20261231, 30)
    assert period_id("month", dec31) == (202612, 30)  # January starts in 30 s
    assert period_id("day", dec31 + 30)[0] == 20270101 and period_id("month", dec31 + 30)[0] == 202701
    feb = calendar.timegm((2028, 2, 29, 12, 0, 0))  # a leap day
    assert period_id("month", feb) == (202802, 12 * 3600)


# ---------------------------------------------------------------------------------------------- shared Redis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_budget_shared_by_two_gateways_through_redis(redis_server: RedisServer) -> None:
    with (
        Gateway(config("shared", redis_server.url), workers=2) as a,
        Gateway(config("shared", redis_server.url)) as b,
    ):
        rs = [chat(gw, "sk-shared-month") for gw in (a, b, a, b, a)]
        assert [r.status_code for r in rs] == [200, 200, 200, 429, 429]
        assert "budget" in rs[3].json()["error"]["message"].lower()
        period = period_id("month", time.time())[0]
        stored = redis_server.client().get(f"llm-link:{{shared-month}}:spend:{period}")
        assert int(stored) == 3 * 1_000_000_000  # nano-dollars, exact
        for gw in (a, b):  # each gateway's metrics show what is left of the shared budget
            assert 'llm_link_key_budget_remaining_usd{key="shared-month"} 0.0' in httpx.get(gw.url + "/metrics").text
        assert redis_server.client().ttl(f"llm-link:{{shared-month}}:spend:{period}") > 86400


def test_unreachable_redis_fails_open_and_still_counts_locally() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with Gateway(config("down", closed)) as gw:
        rs = [chat(gw, "sk-down-day") for _ in range(3)]
        assert [r.status_code for r in rs] == [200, 429, 429]
        assert "Redis unreachable" in gw.log()


def test_a_stream_cut_short_is_still_charged() -> None:
    """A client that hangs up before the usage arrives does not escape its budget: it is charged an
    estimate of what the upstream generated."""
    cfg = {
        "providers": {"slow": {"type": "mock", "options": {"chunks": 8, "chunk_delay": 0.3}}},
        "models": {"drip": {"provider": "slow", "model": "drip", "price": {"input": 0, "output": 1_000_000}}},
        "auth": {"keys": [{"name": "hangup", "key": "sk-hangup", "budget": {"usd": 0.5, "period": "day"}}]},
    }
    with Gateway(cfg) as gw:
        headers = {"Authorization": "Bearer sk-hangup"}
        body = {"model": "drip", "stream": True, "messages": [{"role": "user", "content": "tell me a long story"}]}
        with httpx.stream("POST", gw.url + "/v1/chat/completions", headers=headers, json=body, timeout=30) as r:
            assert r.status_code == 200
            next(r.iter_lines())  # the first chunk, then hang up long before the end
        for _ in range(100):
            if 'llm_link_key_cost_total{key="hangup"' in httpx.get(gw.url + "/metrics").text:
                break
            time.sleep(0.05)
        refused = httpx.post(gw.url + "/v1/chat/completions", headers=headers, json={**body, "stream": False})
        assert refused.status_code == 429 and "budget" in refused.json()["error"]["message"].lower()
        record = [line for line in gw.log().splitlines() if '"model":"drip"' in line and '"stream":true' in line]
        assert record and '"status":499' in record[0] and '"cost_usd":' in record[0]
