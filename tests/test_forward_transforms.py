"""A model's `defaults` / `overrides` / `system_prefix` on the forwarding lane, in each API's own shape:
Ollama `options` and `think`, Anthropic `max_tokens` / sampling / `system`, Responses `instructions` /
`max_output_tokens`, OpenAI chat top-level fields. The official SDKs talk to the gateway; recording fakes show
what the upstream received: the configured values where they belong, the client's own fields kept."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.responses_upstream import API_KEY as RESPONSES_KEY
from tests.fakes.responses_upstream import FakeResponses
from tests.fakes.server import free_port
from tests.harness import Gateway

POLICY = "Policy."


@pytest.fixture(scope="module")
def gw(
    fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, fake_ollama: FakeOllama, fake_responses: FakeResponses
) -> Iterator[Gateway]:
    a_url = fake_anthropic.url  # type: ignore[attr-defined]
    config = {
        "providers": {
            "claude": {"type": "anthropic", "base_url": a_url, "api_key": ANTHROPIC_KEY},
            "gone": {  # nothing listens there: its circuit opens after one failure
                "type": "anthropic",
                "base_url": f"http://127.0.0.1:{free_port()}",
                "api_key": ANTHROPIC_KEY,
                "connect_timeout": 2,
                "circuit": {"failures": 1, "cooldown": 600},
            },
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "oai-gone": {  # nothing listens there either
                "type": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": OPENAI_KEY,
                "connect_timeout": 2,
            },
            "resp": {"type": "openai", "api": "responses", "base_url": fake_responses.url, "api_key": RESPONSES_KEY},  # type: ignore[attr-defined]
            "oll": {"type": "ollama", "base_url": fake_ollama.url},  # type: ignore[attr-defined]
        },
        "models": {
            "llama-shaped": {
                "provider": "oll",
                "model": "llama3.2",
                "defaults": {"temperature": 0.3, "top_p": 0.9, "num_ctx": 4096, "stop": ["END"], "think": False},
                "overrides": {"max_tokens": 50, "seed": 7, "repeat_penalty": 1.1},
                "system_prefix": POLICY,
            },
            "claude-shaped": {
                "provider": "claude",
                "model": "claude-test",
                "defaults": {"temperature": 0.3, "top_k": 20, "stop": ["END"]},
                "overrides": {"max_tokens": 2000},
                "system_prefix": POLICY,
            },
            "claude-top-p": {"provider": "claude", "model": "claude-test", "overrides": {"top_p": 0.5}},
            "gpt-shaped": {
                "provider": "oai",
                "model": "gpt-test",
                "defaults": {"temperature": 0.3, "seed": 7, "stop": ["END"]},
                "overrides": {"max_tokens": 50, "frequency_penalty": 0.5},
                "system_prefix": POLICY,
            },
            # no transforms of its own: its fallback's apply when the fallback answers
            "gpt-plain-first": {
                "provider": "oai-gone",
                "model": "gpt-other",
                "retries": 0,
                "fallbacks": ["gpt-shaped"],
            },
            "resp-shaped": {
                "provider": "resp",
                "model": "gpt-test",
                "defaults": {"temperature": 0.3, "top_p": 0.8},
                "overrides": {"max_tokens": 50},
                "system_prefix": POLICY,
            },
            "counted": {
                "targets": [
                    {"provider": "gone", "model": "claude-test", "weight": 1000},
                    {"provider": "claude", "model": "claude-test", "weight": 1},
                ],
                "retries": 1,
            },
        },
    }
    with Gateway(config) as g:
        yield g


# ---------------------------------------------------------------------------------------------- Ollama


def test_ollama_chat_gets_defaults_and_overrides_inside_options(gw: Gateway, fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=gw.url + "/ollama")
    r = client.chat(
        model="llama-shaped",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        options={"temperature": 0.1, "num_ctx": 8192, "mirostat": 1, "num_predict": -1, "seed": 1},
        keep_alive="10m",
        stream=False,
    )
    assert r.message.content and r.model == "llama-shaped"
    sent = fake_ollama.last
    assert sent["model"] == "llama3.2" and sent["keep_alive"] == "10m"
    assert sent["options"] == {
        "temperature": 0.1,  # the client's value beats a default
        "num_ctx": 8192,
        "mirostat": 1,  # an option llm-link has no name for survives
        "num_predict": 50,  # the max_tokens override caps even Ollama's "no limit" (-1)
        "seed": 7,  # an override beats the client
        "top_p": 0.9,
        "stop": ["END"],
        "repeat_penalty": 1.1,  # an Ollama option name in the config goes into options as it is
    }
    assert sent["think"] is False  # a top-level Ollama field, not an option
    assert sent["messages"][0] == {"role": "system", "content": f"{POLICY}\n\nBe brief."}


def test_ollama_stream_without_options_gets_them_all(gw: Gateway, fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=gw.url + "/ollama")
    chunks = list(
        client.chat(model="llama-shaped", messages=[{"role": "user", "content": "hi"}], think=True, stream=True)
    )
    assert chunks[-1].done and {c.model for c in chunks} == {"llama-shaped"}
    sent = fake_ollama.last
    assert sent["stream"] is True and sent["think"] is True  # the client's think beats the default
    assert sent["options"] == {
        "temperature": 0.3,
        "top_p": 0.9,
        "num_ctx": 4096,
        "stop": ["END"],
        "num_predict": 50,
        "seed": 7,
        "repeat_penalty": 1.1,
    }
    assert sent["messages"] == [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}]


def test_ollama_generate_gets_options_and_the_system_prefix(gw: Gateway, fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=gw.url + "/ollama")
    r = client.generate(
        model="llama-shaped", prompt="hi", system="Be brief.", options={"num_predict": 500, "top_k": 3}, stream=False
    )
    assert r.response and r.model == "llama-shaped"
    sent = fake_ollama.last
    assert sent["prompt"] == "hi" and sent["system"] == f"{POLICY}\n\nBe brief."
    assert sent["options"]["num_predict"] == 50 and sent["options"]["top_k"] == 3
    assert sent["options"]["num_ctx"] == 4096 and sent["think"] is False


# ---------------------------------------------------------------------------------------------- Anthropic


def _claude(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="x", max_retries=0)


def test_anthropic_gets_sampling_defaults_and_a_capped_max_tokens(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    edits = {"edits": [{"type": "clear_tool_uses_20250919"}]}
    r = _claude(gw).messages.create(
        model="claude-shaped",
        max_tokens=8000,
        system="Be brief.",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"context_management": edits},
    )
    assert r.content and r.model == "claude-shaped"
    sent = fake_anthropic.last
    assert sent["max_tokens"] == 2000 and sent["temperature"] == 0.3 and sent["top_k"] == 20
    assert sent["stop_sequences"] == ["END"] and sent["system"] == f"{POLICY}\n\nBe brief."
    assert sent["context_management"] == edits  # a field llm-link does not know survives


def test_anthropic_with_thinking_gets_no_sampling_the_api_refuses(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    system = [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}]
    r = _claude(gw).messages.create(
        model="claude-shaped",
        max_tokens=8000,
        thinking={"type": "enabled", "budget_tokens": 4000},
        system=system,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "hi"}],
    )
    assert r.content  # the strict fake takes the body: no temperature or top_k with thinking on
    sent = fake_anthropic.last
    assert "temperature" not in sent and "top_k" not in sent and sent["stop_sequences"] == ["END"]
    # the max_tokens override would fall below the budget: the budget shrinks under it
    assert sent["max_tokens"] == 2000 and sent["thinking"] == {"type": "enabled", "budget_tokens": 1999}
    assert sent["system"] == [{"type": "text", "text": POLICY}, *system]


def test_anthropic_takes_one_of_temperature_and_top_p(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    client = _claude(gw)
    msgs = [{"role": "user", "content": "hi"}]
    client.messages.create(model="claude-shaped", max_tokens=100, messages=msgs, extra_body={"top_p": 0.7})  # type: ignore[arg-type]
    sent = fake_anthropic.last
    assert sent["top_p"] == 0.7 and "temperature" not in sent  # the client's choice beats a default
    client.messages.create(model="claude-top-p", max_tokens=100, messages=msgs, extra_body={"temperature": 0.2})  # type: ignore[arg-type]
    sent = fake_anthropic.last
    assert sent["top_p"] == 0.5 and "temperature" not in sent  # an override beats the client's


def test_count_tokens_goes_to_a_healthy_target(gw: Gateway, fake_anthropic: FakeAnthropic) -> None:
    client = _claude(gw)
    msgs = [{"role": "user", "content": "count me"}]
    for _ in range(20):  # the unreachable target is nearly always tried first; one failure opens its circuit
        client.messages.create(model="counted", max_tokens=100, messages=msgs)  # type: ignore[arg-type]
        if 'llm_link_circuit_open{model="claude-test",provider="gone"} 1.0' in httpx.get(gw.url + "/metrics").text:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the unreachable target's circuit never opened")
    count = client.messages.count_tokens(model="counted", messages=msgs)  # type: ignore[arg-type]
    assert count.input_tokens > 0
    assert fake_anthropic.count_requests[-1]["model"] == "claude-test"


# ---------------------------------------------------------------------------------------------- OpenAI


def test_openai_chat_gets_top_level_params(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    r = client.chat.completions.create(
        model="gpt-shaped",
        messages=[{"role": "user", "content": "hi"}],
        max_completion_tokens=500,
        seed=1,
        frequency_penalty=0.0,
        extra_body={"prompt_cache_key": "conv-1", "vendor_knob": {"x": 1}},
    )
    assert r.choices[0].message.content and r.model == "gpt-shaped"
    sent = fake_openai.last
    assert sent["max_completion_tokens"] == 50 and "max_tokens" not in sent  # capped in the client's own field
    assert sent["temperature"] == 0.3 and sent["seed"] == 1 and sent["stop"] == ["END"]
    assert sent["frequency_penalty"] == 0.5
    assert sent["prompt_cache_key"] == "conv-1" and sent["vendor_knob"] == {"x": 1}
    assert sent["messages"][0] == {"role": "system", "content": POLICY}


def test_openai_fallback_gets_the_fallback_models_transforms(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-plain-first", messages=[{"role": "user", "content": "hi"}], temperature=0.9
    )
    r = raw.parse()
    assert r.model == "gpt-plain-first"  # the name the client asked for, whichever model answered
    assert raw.headers["x-llm-link-provider"] == "oai/gpt-test"
    assert raw.headers["x-llm-link-attempts"] == "2"
    sent = fake_openai.last
    assert sent["model"] == "gpt-test"
    assert sent["temperature"] == 0.9  # the client's own value kept over the fallback's default
    assert sent["max_tokens"] == 50 and sent["frequency_penalty"] == 0.5  # the fallback's overrides
    assert sent["messages"][0] == {"role": "system", "content": POLICY}


def test_responses_gets_instructions_and_output_cap(gw: Gateway, fake_responses: FakeResponses) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    r = client.responses.create(
        model="resp-shaped",
        input="hi",
        instructions="Be brief.",
        max_output_tokens=500,
        top_p=0.5,
        store=False,
        extra_body={"prompt_cache_key": "conv-1"},
    )
    assert r.output_text
    sent = fake_responses.last
    assert sent["instructions"] == f"{POLICY}\n\nBe brief."
    assert sent["max_output_tokens"] == 50 and sent["temperature"] == 0.3 and sent["top_p"] == 0.5
    assert sent["prompt_cache_key"] == "conv-1" and sent["store"] is False
