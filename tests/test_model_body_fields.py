"""A model's `defaults` / `overrides` keys that are no shared parameter go to the upstream as body fields of
its own API (e.g. DeepSeek V4's `thinking: {type: disabled}` for a model that should not think): a default
only where the client sent the field not, an override always, on the forwarding lane and the translated one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.scripted_upstream import ScriptedUpstream
from tests.harness import Gateway

OFF = {"type": "disabled"}


@pytest.fixture(scope="module")
def upstream(fake_scripted: ScriptedUpstream) -> ScriptedUpstream:
    return fake_scripted


@pytest.fixture(scope="module")
def gateway(upstream: ScriptedUpstream, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    url = upstream.url  # type: ignore[attr-defined]
    config = {
        "providers": {
            "fwd": {"type": "openai", "base_url": f"{url}/fwd/v1", "api_key": "sk-x"},
            "tr": {"type": "openai", "base_url": f"{url}/tr/v1", "api_key": "sk-x", "passthrough": False},
            "claude": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},  # type: ignore[attr-defined]
        },
        "models": {
            # DeepSeek's retired non-thinking name, kept for clients: V4 Flash with thinking off
            "flash-fwd": {
                "provider": "fwd",
                "model": "v4",
                "overrides": {"thinking": OFF},
                "defaults": {"temperature": 0.5},
            },
            "flash-tr": {"provider": "tr", "model": "v4", "overrides": {"thinking": OFF}},
            "tier-default": {"provider": "fwd", "model": "v4", "defaults": {"service_tier": "flex"}},
            "tier-default-tr": {"provider": "tr", "model": "v4", "defaults": {"service_tier": "flex"}},
            "claude-quiet": {"provider": "claude", "model": "claude-test", "overrides": {"thinking": OFF}},
        },
    }
    with Gateway(config) as gw:
        yield gw


def _openai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-none", max_retries=0)


def _last(upstream: ScriptedUpstream, name: str) -> dict[str, Any]:
    return upstream.bodies[name][-1]


def test_an_override_reaches_a_forwarded_request_over_the_clients_value(
    gateway: Gateway, upstream: ScriptedUpstream
) -> None:
    with _openai(gateway) as client:
        answer = client.chat.completions.create(
            model="flash-fwd",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"thinking": {"type": "enabled"}},
        )
    assert answer.choices[0].message.content == "from fwd"
    body = _last(upstream, "fwd")
    assert body["thinking"] == OFF and body["model"] == "v4" and body["temperature"] == 0.5


def test_an_override_reaches_a_translated_request_from_an_anthropic_client(
    gateway: Gateway, upstream: ScriptedUpstream
) -> None:
    with anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="sk-none", max_retries=0) as client:
        message = client.messages.create(model="flash-tr", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].type == "text" and message.content[0].text == "from tr"
    assert _last(upstream, "tr")["thinking"] == OFF


@pytest.mark.parametrize("model,deployment", [("tier-default", "fwd"), ("tier-default-tr", "tr")])
def test_a_default_fills_only_what_the_client_left_out(
    gateway: Gateway, upstream: ScriptedUpstream, model: str, deployment: str
) -> None:
    with _openai(gateway) as client:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert _last(upstream, deployment)["service_tier"] == "flex"
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], service_tier="priority"
        )
        assert _last(upstream, deployment)["service_tier"] == "priority"


def test_an_override_reaches_a_forwarded_anthropic_request(gateway: Gateway, fake_anthropic: FakeAnthropic) -> None:
    with anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="sk-none", max_retries=0) as client:
        message = client.messages.create(
            model="claude-quiet",
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 2048},
            messages=[{"role": "user", "content": "hi"}],
        )
    assert all(block.type != "thinking" for block in message.content)
    assert fake_anthropic.last["thinking"] == OFF
