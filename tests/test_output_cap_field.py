"""The output cap a model's config adds on the forwarding lane goes under the field name the upstream wants:
api.openai.com's reasoning models reject `max_tokens` and take `max_completion_tokens` (the provider's
`options.max_tokens_param`, by host when unset), compatible servers read `max_tokens`. The fake rejects
`max_tokens` for reasoning model names with the real API's error; the `openai` SDK talks to the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import Gateway


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    url = fake_openai.url  # type: ignore[attr-defined]
    config = {
        "providers": {
            "openai-like": {
                "type": "openai",
                "base_url": url,
                "api_key": OPENAI_KEY,
                "options": {"max_tokens_param": "max_completion_tokens"},
            },
            "compat": {"type": "openai", "base_url": url, "api_key": OPENAI_KEY},
        },
        "models": {
            "thinker": {"provider": "openai-like", "model": "gpt-5-mini", "max_tokens": 4096},
            "capped": {"provider": "openai-like", "model": "o4-mini", "overrides": {"max_tokens": 64}},
            "local": {"provider": "compat", "model": "llama", "defaults": {"max_tokens": 256}},
        },
    }
    with Gateway(config) as g:
        yield g


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


MESSAGES: list = [{"role": "user", "content": "hi"}]


def test_configured_cap_goes_to_a_reasoning_model_as_max_completion_tokens(
    gw: Gateway, fake_openai: FakeOpenAI
) -> None:
    out = client(gw).chat.completions.create(model="thinker", messages=MESSAGES)
    assert out.choices[0].message.content == "echo: hi"
    sent = fake_openai.last
    assert sent["max_completion_tokens"] == 4096 and "max_tokens" not in sent


def test_streamed_too(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    chunks = list(client(gw).chat.completions.create(model="thinker", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
    assert fake_openai.last["max_completion_tokens"] == 4096 and "max_tokens" not in fake_openai.last


def test_override_caps_the_field_the_client_sent(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    out = client(gw).chat.completions.create(model="capped", messages=MESSAGES, max_completion_tokens=1000)
    assert out.choices[0].message.content == "echo: hi"
    sent = fake_openai.last
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent


def test_override_without_a_client_cap_uses_the_wanted_field(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    client(gw).chat.completions.create(model="capped", messages=MESSAGES)
    sent = fake_openai.last
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent


def test_client_max_tokens_goes_as_sent_and_the_upstream_error_comes_back(gw: Gateway) -> None:
    # Same API on both sides: the client's own field is the client's choice, as it would be direct.
    with pytest.raises(openai.BadRequestError) as err:
        client(gw).chat.completions.create(model="capped", messages=MESSAGES, max_tokens=1000)
    assert "max_completion_tokens" in str(err.value) and err.value.code == "unsupported_parameter"


def test_compatible_server_gets_max_tokens(gw: Gateway, fake_openai: FakeOpenAI) -> None:
    client(gw).chat.completions.create(model="local", messages=MESSAGES)
    sent = fake_openai.last
    assert sent["max_tokens"] == 256 and "max_completion_tokens" not in sent
