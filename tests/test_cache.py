"""The response cache over HTTP: every dialect, streamed and not, against a fake OpenAI upstream
that counts its calls. A second identical request is answered without the upstream, in the dialect's own
shape (replayed as a stream when asked), with X-LLM-Link-Cache saying so."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.harness import Gateway
from tests.redis_server import RedisServer

KEY_A = "sk-cache-team-a-0001"
KEY_B = "sk-cache-team-b-0002"


def config(fake: FakeOpenAI, cache: dict[str, Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "providers": {"oai": {"type": "openai", "base_url": fake.url, "api_key": API_KEY}},  # type: ignore[attr-defined]
        "models": {
            "faq": {"provider": "oai", "model": "gpt-4o-mini", "cache": True},
            "plain": {"provider": "oai", "model": "gpt-4o-mini"},
            "broken": {"provider": "oai", "model": "fail-400", "cache": True, "retries": 0},
        },
        "auth": {"keys": [{"name": "team-a", "key": KEY_A}, {"name": "team-b", "key": KEY_B}]},
        "cache": cache,
    }
    if state is not None:
        cfg["state"] = state
    return cfg


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    with Gateway(config(fake_openai, {"backend": "memory", "ttl": 300, "max_entries": 100})) as g:
        yield g


def upstream_calls(fake: FakeOpenAI, marker: str) -> int:
    return sum(1 for body in fake.requests if marker in json.dumps(body))


def metric(gw: Gateway, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def sse_data(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            out.append(json.loads(line[5:]))
    return out


def ask(
    gw: Gateway, dialect: str, prompt: str, stream: bool, key: str = KEY_A, limit: int | None = None, **headers: str
) -> tuple[str, str]:
    """(X-LLM-Link-Cache, the answer's text) for one request in `dialect`, read from its wire format;
    `limit` is the answer's token limit in the dialect's own field (Anthropic's is required: 100 without)."""
    model = "faq"
    h = {"Authorization": f"Bearer {key}", **headers}
    msgs = [{"role": "user", "content": prompt}]
    if dialect == "openai":
        body: dict[str, Any] = {"model": model, "messages": msgs, "stream": stream}
        if limit:
            body["max_tokens"] = limit
        r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=h)
        assert r.status_code == 200, r.text
        if stream:
            text = "".join(c["choices"][0]["delta"].get("content") or "" for c in sse_data(r.text) if c["choices"])
        else:
            text = r.json()["choices"][0]["message"]["content"]
    elif dialect == "responses":
        body = {"model": model, "input": prompt, "stream": stream}
        if limit:
            body["max_output_tokens"] = limit
        r = httpx.post(gw.url + "/v1/responses", json=body, headers=h)
        assert r.status_code == 200, r.text
        if stream:
            events = sse_data(r.text)
            assert events[-1]["type"] == "response.completed"
            text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        else:
            text = "".join(c["text"] for o in r.json()["output"] if o["type"] == "message" for c in o["content"])
    elif dialect == "anthropic":
        body = {"model": model, "max_tokens": limit or 100, "messages": msgs, "stream": stream}
        r = httpx.post(gw.url + "/anthropic/v1/messages", json=body, headers={**h, "anthropic-version": "2023-06-01"})
        assert r.status_code == 200, r.text
        if stream:
            events = sse_data(r.text)
            assert events[-1]["type"] == "message_stop"
            text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
        else:
            text = "".join(b["text"] for b in r.json()["content"] if b["type"] == "text")
    elif dialect == "ollama":
        body = {"model": model, "messages": msgs, "stream": stream}
        if limit:
            body["options"] = {"num_predict": limit}
        r = httpx.post(gw.url + "/ollama/api/chat", json=body, headers=h)
        assert r.status_code == 200, r.text
        lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        assert lines[-1]["done"] is True
        text = "".join(line["message"]["content"] for line in lines)
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if limit:
            body["generationConfig"] = {"maxOutputTokens": limit}
        verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
        r = httpx.post(
            f"{gw.url}/gemini/v1beta/models/{model}:{verb}", json=body, headers={"x-goog-api-key": key, **headers}
        )
        assert r.status_code == 200, r.text
        chunks = sse_data(r.text) if stream else [r.json()]
        text = "".join(
            p.get("text", "") for c in chunks for p in c["candidates"][0].get("content", {}).get("parts", [])
        )
    return r.headers.get("X-LLM-Link-Cache", ""), text


DIALECTS = ["openai", "responses", "anthropic", "ollama", "gemini"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_second_identical_request_is_a_hit_without_the_upstream(
    gw: Gateway, fake_openai: FakeOpenAI, dialect: str, stream: bool
) -> None:
    prompt = f"cache me {uuid.uuid4().hex}"
    assert ask(gw, dialect, prompt, stream) == ("miss", f"echo: {prompt}")
    assert upstream_calls(fake_openai, prompt) == 1
    assert ask(gw, dialect, prompt, stream) == ("hit", f"echo: {prompt}")
    assert upstream_calls(fake_openai, prompt) == 1
    # The other shape of the same request hits too: a stored answer replays as a stream or as one body.
    assert ask(gw, dialect, prompt, not stream) == ("hit", f"echo: {prompt}")
    assert upstream_calls(fake_openai, prompt) == 1


def test_an_answer_stored_from_one_dialect_is_replayed_in_every_other(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    prompt = f"shared {uuid.uuid4().hex}"
    assert ask(gw, "openai", prompt, True, limit=100)[0] == "miss"
    for dialect in DIALECTS:
        for stream in (False, True):
            assert ask(gw, dialect, prompt, stream, limit=100) == ("hit", f"echo: {prompt}"), (dialect, stream)
    assert upstream_calls(fake_openai, prompt) == 1


def test_cache_control_no_cache_refreshes_and_no_store_bypasses(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    prompt = f"opt out {uuid.uuid4().hex}"
    assert ask(gw, "openai", prompt, False, **{"Cache-Control": "no-store"})[0] == "bypass"
    assert ask(gw, "openai", prompt, False)[0] == "miss"  # no-store stored nothing
    assert ask(gw, "openai", prompt, False, **{"Cache-Control": "no-cache"})[0] == "miss"
    assert upstream_calls(fake_openai, prompt) == 3
    assert ask(gw, "openai", prompt, False)[0] == "hit"
    assert upstream_calls(fake_openai, prompt) == 3


def test_entries_are_per_gateway_key(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    prompt = f"scoped {uuid.uuid4().hex}"
    assert ask(gw, "openai", prompt, False, key=KEY_A)[0] == "miss"
    assert ask(gw, "openai", prompt, False, key=KEY_B)[0] == "miss"
    assert ask(gw, "openai", prompt, False, key=KEY_B)[0] == "hit"
    assert upstream_calls(fake_openai, prompt) == 2


def test_fields_that_change_the_answer_change_the_key(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY_A)
    prompt = f"params {uuid.uuid4().hex}"
    msgs: Any = [{"role": "user", "content": prompt}]
    first = client.chat.completions.with_raw_response.create(model="faq", messages=msgs, temperature=0.2, user="u1")
    assert first.headers["X-LLM-Link-Cache"] == "miss"
    # `user` and metadata do not change the answer: a hit.
    again = client.chat.completions.with_raw_response.create(
        model="faq", messages=msgs, temperature=0.2, user="u2", metadata={"run": "2"}
    )
    assert again.headers["X-LLM-Link-Cache"] == "hit"
    assert again.parse().choices[0].message.content == f"echo: {prompt}"
    other = client.chat.completions.with_raw_response.create(model="faq", messages=msgs, temperature=0.9)
    assert other.headers["X-LLM-Link-Cache"] == "miss"
    assert upstream_calls(fake_openai, prompt) == 2


def test_a_model_without_cache_true_is_never_cached(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    prompt = f"uncached {uuid.uuid4().hex}"
    h = {"Authorization": f"Bearer {KEY_A}"}
    for _ in range(2):
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "plain", "messages": [{"role": "user", "content": prompt}]},
            headers=h,
        )
        assert r.status_code == 200 and "X-LLM-Link-Cache" not in r.headers
    assert upstream_calls(fake_openai, prompt) == 2


def test_a_failed_answer_is_not_stored(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    prompt = f"failing {uuid.uuid4().hex}"
    h = {"Authorization": f"Bearer {KEY_A}"}
    for stream in (False, True, False):
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "broken", "messages": [{"role": "user", "content": prompt}], "stream": stream},
            headers=h,
        )
        assert r.status_code == 400
    assert upstream_calls(fake_openai, prompt) == 3


def test_streamed_tool_calls_replay_through_the_sdks(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    prompt = f"weather {uuid.uuid4().hex}"
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY_A)
    msgs: Any = [{"role": "user", "content": prompt}]

    def run() -> tuple[str, list[tuple[str, str]]]:
        raw = client.chat.completions.with_raw_response.create(model="faq", messages=msgs, tools=tools, stream=True)
        calls: dict[int, list[str]] = {}
        for chunk in raw.parse():
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                slot = calls.setdefault(tc.index, ["", ""])
                slot[0] += (tc.function.name or "") if tc.function else ""
                slot[1] += (tc.function.arguments or "") if tc.function else ""
        return raw.headers["X-LLM-Link-Cache"], [(n, a) for n, a in calls.values()]

    miss, first = run()
    hit, second = run()
    assert (miss, hit) == ("miss", "hit")
    assert first and first == second
    assert json.loads(second[0][1]) is not None
    assert upstream_calls(fake_openai, prompt) == 1
    # Anthropic's SDK reads the same stored answer as tool_use blocks.
    amsg = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=KEY_A).messages.with_raw_response.create(
        model="faq",
        max_tokens=100,
        messages=[{"role": "user", "content": prompt}],
        tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    )
    assert amsg.headers["X-LLM-Link-Cache"] == "miss"  # a different request: tools in Anthropic's shape...
    blocks = amsg.parse().content
    assert any(b.type == "tool_use" and b.name == "get_weather" for b in blocks)


def test_a_hit_costs_no_upstream_tokens_and_is_counted(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    prompt = f"counted {uuid.uuid4().hex}"
    hits = metric(gw, "llm_link_cache_total", model="faq", result="hit")
    stores = metric(gw, "llm_link_cache_total", model="faq", result="store")
    assert ask(gw, "openai", prompt, False)[0] == "miss"
    tokens = metric(gw, "llm_link_tokens_total", model="faq")
    key_tokens = metric(gw, "llm_link_key_tokens_total", key="team-a", model="faq")
    requests = metric(gw, "llm_link_key_requests_total", key="team-a", model="faq")
    assert ask(gw, "openai", prompt, False)[0] == "hit"
    assert ask(gw, "openai", prompt, True)[0] == "hit"
    assert metric(gw, "llm_link_cache_total", model="faq", result="hit") - hits == 2
    assert metric(gw, "llm_link_cache_total", model="faq", result="store") - stores == 1
    assert metric(gw, "llm_link_tokens_total", model="faq") == tokens
    assert metric(gw, "llm_link_key_tokens_total", key="team-a", model="faq") == key_tokens
    assert metric(gw, "llm_link_key_requests_total", key="team-a", model="faq") - requests == 2  # RPM counts


def test_redis_backend_is_shared_by_workers_and_gateways(fake_openai: FakeOpenAI) -> None:
    with RedisServer() as redis:
        cfg = config(fake_openai, {"backend": "redis", "ttl": 60, "shared": True}, {"redis_url": redis.url})
        with Gateway(cfg) as one, Gateway(cfg) as two:
            prompt = f"redis {uuid.uuid4().hex}"
            assert ask(one, "openai", prompt, True, key=KEY_A, limit=100) == ("miss", f"echo: {prompt}")
            # Another replica, another key (cache.shared): the stored answer.
            assert ask(two, "anthropic", prompt, False, key=KEY_B, limit=100) == ("hit", f"echo: {prompt}")
            assert upstream_calls(fake_openai, prompt) == 1
            assert any(k.startswith(b"llm-link:cache:") for k in redis.client().keys("*"))
