"""The `aliyun` provider (DashScope OpenAI-compatible mode) against a fake with DashScope's quirks: hybrid
thinking models that refuse non-streaming calls with thinking on, stream-only models, enable_thinking instead
of reasoning_effort, DashScope error bodies, region base URLs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import pytest
import yaml

from tests.fakes.aliyun_upstream import API_KEY, FakeAliyun
from tests.harness import ROOT, Gateway


@pytest.fixture(scope="module")
def gw(fake_aliyun: FakeAliyun) -> Iterator[Gateway]:
    config = {
        "providers": {
            "ali": {
                "type": "aliyun",
                "base_url": fake_aliyun.url,
                "api_key": API_KEY,  # type: ignore[attr-defined]
                "options": {"stream_only_models": ["qvq-max"]},
            }
        },
        "models": {"qwen-plus": "ali/qwen-plus", "qwen3": "ali/qwen3-32b", "qwq": "ali/qwq-plus", "qvq": "ali/qvq-max"},
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_plain_chat(client: openai.OpenAI, fake_aliyun: FakeAliyun) -> None:
    r = client.chat.completions.create(
        model="qwen-plus",
        messages=[{"role": "user", "content": "ni hao"}],
        extra_body={"top_k": 20, "enable_search": True},
    )
    assert r.choices[0].message.content == "echo: ni hao"
    assert fake_aliyun.last["top_k"] == 20 and fake_aliyun.last["enable_search"] is True


def test_hybrid_thinking_model_non_streaming_turns_thinking_off(client: openai.OpenAI, fake_aliyun: FakeAliyun) -> None:
    r = client.chat.completions.create(model="qwen3", messages=[{"role": "user", "content": "quick"}])
    assert r.choices[0].message.content == "echo: quick"
    assert fake_aliyun.last["enable_thinking"] is False and not fake_aliyun.last.get("stream")


def test_non_streaming_call_with_thinking_streams_and_aggregates(
    client: openai.OpenAI, fake_aliyun: FakeAliyun
) -> None:
    r = client.chat.completions.create(
        model="qwen3", reasoning_effort="high", messages=[{"role": "user", "content": "deep"}]
    )
    msg = r.choices[0].message
    assert msg.content == "echo: deep"
    assert getattr(msg, "reasoning_content", None) == "thinking hard"
    assert r.usage is not None and r.usage.prompt_tokens == 12
    body = fake_aliyun.last
    assert body["stream"] is True and body["enable_thinking"] is True and "reasoning_effort" not in body


@pytest.mark.parametrize("model", ["qwq", "qvq"], ids=["refused-then-streamed", "configured-stream-only"])
def test_stream_only_models_answer_non_streaming_clients(client: openai.OpenAI, model: str) -> None:
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "solve"}])
    assert r.choices[0].message.content == "echo: solve"


def test_streamed_thinking(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model="qwen3", stream=True, messages=[{"role": "user", "content": "stream"}])
    )
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "thinking hard"


def test_ollama_client_thinking_through_aliyun(gw: Gateway) -> None:
    c = ollama.Client(host=gw.url + "/ollama")
    r = c.chat(model="qwen3", messages=[{"role": "user", "content": "why"}], think=True)
    assert r.message.thinking == "thinking hard" and r.message.content == "echo: why"
    off = c.chat(model="qwen3", messages=[{"role": "user", "content": "why"}], think=False)
    assert off.message.content == "echo: why" and not off.message.thinking


@pytest.mark.parametrize(
    ("model", "exc", "status"),
    [
        ("ali/fail-400", openai.BadRequestError, 400),
        ("ali/fail-401", openai.AuthenticationError, 401),
        ("ali/fail-403", openai.PermissionDeniedError, 403),
    ],
)
def test_dashscope_errors_keep_status_and_message(client: openai.OpenAI, model: str, exc: type, status: int) -> None:
    with pytest.raises(exc) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    assert f"dashscope says {status}" in str(info.value)


def test_region_base_urls(tmp_path: Path) -> None:
    for region, host in (
        ("beijing", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
        ("singapore", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    ):
        cfg = {
            "providers": {"ali": {"type": "aliyun", "api_key": "sk-x", "options": {"region": region}}},
            "models": {"q": "ali/qwen-plus"},
        }
        path = tmp_path / f"aliyun-{region}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        r = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert r.returncode == 0 and f"ali: aliyun at {host}" in r.stdout
