"""The OpenAI Agents SDK (which speaks the Responses API by default) runs an agent with a function tool
through the gateway: the model calls the tool, the SDK runs it and sends the result back, the final
answer comes from the upstream — over a Chat Completions and an Anthropic upstream, streamed and not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import API_KEY
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

set_tracing_disabled(True)  # the SDK would upload traces to OpenAI otherwise


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gw(fake_openai: Any, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    config = {
        "providers": {
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": API_KEY},
            "claude": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},
        },
        "models": {"chat-model": "oai/gpt-test", "claude-model": "claude/claude-test"},
    }
    with Gateway(config) as g:
        yield g


calls: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(city)
    return f"18C and sunny in {city}"


async def _run(gw: Gateway, model: str, stream: bool) -> str:
    client = AsyncOpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    agent = Agent(
        name="weather",
        instructions="Answer with the tool.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model=model, openai_client=client),
    )
    if stream:
        result = Runner.run_streamed(agent, "weather in Paris?")
        async for _ in result.stream_events():
            pass
    else:
        result = await Runner.run(agent, "weather in Paris?")  # type: ignore[assignment]
    await client.close()
    return str(result.final_output)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("model", ["chat-model", "claude-model"])
def test_agent_runs_a_tool_through_the_gateway(gw: Gateway, model: str, stream: bool) -> None:
    calls.clear()
    answer = asyncio.run(_run(gw, model, stream))
    assert calls == ["Paris"]
    assert "18C and sunny in Paris" in answer
