"""Routing and resilience through HTTP: retries, fallbacks, circuit breaking, deadlines, weights, transforms."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.scripted_upstream import ScriptedUpstream
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

DEPLOYMENTS = [
    "fts",
    "sp_a",
    "sp_b",
    "rl",
    "ft_a",
    "ft_b",
    "rf_ok",
    "dr",
    "w_a",
    "w_b",
    "br_a",
    "br_b",
    "dl",
    "bq",
    "tf",
    "dead_only",
    "st",
]


def _config(url: str) -> dict:
    providers = {
        n: {"type": "openai", "base_url": f"{url}/{n}/v1", "api_key": "sk-x", "circuit": {"failures": 3, "cooldown": 3}}
        for n in DEPLOYMENTS
    }
    providers["dead"] = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-x"}

    def single(p: str, **extra: object) -> dict:
        return {"targets": [{"provider": p, "model": "m"}], **extra}

    return {
        "providers": providers,
        "models": {
            "fail-then-succeed": single("fts", retries=1),
            "spread": {
                "targets": [{"provider": "sp_a", "model": "m"}, {"provider": "sp_b", "model": "m"}],
                "retries": 1,
            },
            "ratelimited": single("rl", retries=2),
            "first-token": single("ft_a", retries=0, first_token_timeout=0.5, fallbacks=["first-token-backup"]),
            "first-token-backup": single("ft_b"),
            "refused": single("dead", retries=0, fallbacks=["refused-backup"]),
            "refused-backup": single("rf_ok"),
            "refused-only": single("dead", retries=1),
            "dropper": single("dr", retries=2),
            "weighted": {
                "targets": [
                    {"provider": "w_a", "model": "m", "weight": 3},
                    {"provider": "w_b", "model": "m", "weight": 1},
                ]
            },
            "breaker": {
                "targets": [{"provider": "br_a", "model": "m"}, {"provider": "br_b", "model": "m"}],
                "retries": 1,
            },
            "deadline": single("dl", retries=5, timeout=1),
            "badreq": single("bq", retries=3),
            "stalled-stream": single("st", retries=2, timeout=1),
            "shaped": single(
                "tf",
                defaults={"temperature": 0.2},
                overrides={"max_tokens": 100},
                system_prefix="Answer in English.",
                headers={"X-Tenant": "acme"},
            ),
        },
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    fake = ScriptedUpstream()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: ScriptedUpstream) -> Iterator[Gateway]:
    with Gateway(_config(upstream.url)) as gw:  # type: ignore[attr-defined]
        yield gw


def chat(gw: Gateway, model: str, stream: bool = False, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=20)


def test_fail_then_succeed(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("fts", ["500", "ok"])
    r = chat(gateway, "fail-then-succeed")
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "from fts"
    assert r.headers["x-llm-link-attempts"] == "2"
    assert r.headers["x-llm-link-provider"] == "fts/m"
    assert upstream.hits["fts"] == 2


def test_retry_goes_to_another_target(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("sp_a", ["503"])
    upstream.script("sp_b", ["ok"])
    for _ in range(6):
        r = chat(gateway, "spread")
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "from sp_b"
        assert r.headers["x-llm-link-provider"] == "sp_b/m"
    # sp_a was never tried twice for one request: at most one attempt on it per request
    assert upstream.hits["sp_a"] <= 6


def test_always_429_honours_retry_after_then_gives_up(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("rl", ["429"])
    t0 = time.monotonic()
    r = chat(gateway, "ratelimited")
    elapsed = time.monotonic() - t0
    assert r.status_code == 429
    assert "rl says 429" in r.json()["error"]["message"]
    assert upstream.hits["rl"] == 3  # 1 + retries
    assert r.headers["x-llm-link-attempts"] == "3"
    assert elapsed >= 1.9  # waited Retry-After (1 s) before each of the two retries


def test_slow_first_token_moves_to_fallback(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("ft_a", ["slow:3"])
    upstream.script("ft_b", ["ok"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    with client.chat.completions.with_streaming_response.create(
        model="first-token", stream=True, messages=[{"role": "user", "content": "hi"}]
    ) as resp:
        assert resp.headers["x-llm-link-provider"] == "ft_b/m"
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "from ft_b and more"
    assert upstream.hits["ft_a"] == 1 and upstream.hits["ft_b"] == 1


def test_connection_refused_falls_back(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("rf_ok", ["ok"])
    r = chat(gateway, "refused")
    assert r.status_code == 200 and r.headers["x-llm-link-provider"] == "rf_ok/m"
    assert r.headers["x-llm-link-attempts"] == "2"
    r = chat(gateway, "refused-only")
    assert r.status_code == 502 and r.headers["x-llm-link-attempts"] == "2"


def test_mid_stream_drop_is_not_retried(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("dr", ["drop"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    got = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model="dropper", stream=True, messages=[{"role": "user", "content": "hi"}]
        ):
            got.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "from dr" in got
    assert upstream.hits["dr"] == 1  # the client already had bytes: no second upstream request


def test_weights_are_honoured(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("w_a", ["ok"])
    upstream.script("w_b", ["ok"])
    with httpx.Client(timeout=10) as http:
        for _ in range(200):
            http.post(
                gateway.url + "/v1/chat/completions",
                json={"model": "weighted", "messages": [{"role": "user", "content": "x"}]},
            )
    share = upstream.hits["w_a"] / (upstream.hits["w_a"] + upstream.hits["w_b"])
    assert 0.63 <= share <= 0.87  # 0.75 expected; bounds are > 4 sigma for n=200


def test_circuit_opens_and_recovers(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("br_a", ["500"])
    upstream.script("br_b", ["ok"])
    for _ in range(60):
        assert chat(gateway, "breaker").status_code == 200
        if upstream.hits["br_a"] >= 3:
            break
    assert upstream.hits["br_a"] == 3
    for _ in range(10):  # ejected: every request goes straight to br_b
        r = chat(gateway, "breaker")
        assert r.headers["x-llm-link-attempts"] == "1" and r.headers["x-llm-link-provider"] == "br_b/m"
    assert upstream.hits["br_a"] == 3
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'llm_link_circuit_open{model="m",provider="br_a"} 1.0' in metrics
    time.sleep(3.1)  # cooldown: the next request that picks br_a is the half-open probe
    upstream.scripts["br_a"] = ["ok"]
    for _ in range(40):
        chat(gateway, "breaker")
        if upstream.hits["br_a"] > 4:
            break
    assert upstream.hits["br_a"] > 4  # probe succeeded, circuit closed, traffic flows again


def test_deadline_wins_over_retries(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("dl", ["slow:3"])
    t0 = time.monotonic()
    r = chat(gateway, "deadline")
    assert r.status_code == 504
    assert time.monotonic() - t0 < 2.5
    assert upstream.hits["dl"] == 1
    assert "deadline" in r.json()["error"]["message"]


def test_400_is_not_retried(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("bq", ["400"])
    r = chat(gateway, "badreq")
    assert r.status_code == 400 and "bq says 400" in r.json()["error"]["message"]
    assert upstream.hits["bq"] == 1


def test_model_transforms(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("tf", ["ok"])
    chat(gateway, "shaped")
    sent = upstream.bodies["tf"][-1]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 100
    assert sent["messages"][0] == {"role": "system", "content": "Answer in English."}
    assert upstream.headers["tf"][-1]["X-Tenant"] == "acme"
    chat(
        gateway,
        "shaped",
        temperature=0.9,
        max_tokens=5000,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    )
    sent = upstream.bodies["tf"][-1]
    assert sent["temperature"] == 0.9  # a default never overrides the client
    assert sent["max_tokens"] == 100  # an override caps it
    assert sent["messages"][0]["content"] == "Answer in English.\n\nBe brief."


def test_check_prints_routing_table(upstream: ScriptedUpstream, tmp_path: object) -> None:
    import yaml

    path = tmp_path / "cfg.yaml"  # type: ignore[operator]
    path.write_text(yaml.safe_dump(_config("http://127.0.0.1:1")))
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "weighted -> w_a/m (weight 3), w_b/m (weight 1)" in out
    assert "fallbacks ['first-token-backup']" in out
    assert "system_prefix 'Answer in English.'" in out
    assert "overrides {'max_tokens': 100}" in out


def test_deadline_bounds_a_stream_after_its_first_byte(gateway: Gateway, upstream: ScriptedUpstream) -> None:
    upstream.script("st", ["stall"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    got = []
    t0 = time.monotonic()
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
            model="stalled-stream", stream=True, messages=[{"role": "user", "content": "hi"}]
        ):
            got.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "from st" in got and "deadline" in str(info.value)
    assert time.monotonic() - t0 < 5
    assert upstream.hits["st"] == 1  # the stream had started: not retried


def test_unknown_route_carries_request_id(gateway: Gateway) -> None:
    r = httpx.get(gateway.url + "/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "abc-123"
    assert httpx.get(gateway.url + "/v1/nothing-here").headers["x-request-id"].startswith("req_")
