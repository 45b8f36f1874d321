"""Session fixtures for the fake Anthropic, Ollama, DashScope, Gemini, Responses and scripted OpenAI upstreams; test modules
name the ones they use (a module may still define its own, fresh one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.aliyun_upstream import FakeAliyun
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.responses_upstream import FakeResponses
from tests.fakes.scripted_upstream import ScriptedUpstream
from tests.fakes.server import ThreadedServer


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="session")
def fake_aliyun() -> Iterator[FakeAliyun]:
    fake = FakeAliyun()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url + "/compatible-mode/v1"  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="session")
def fake_responses() -> Iterator[FakeResponses]:
    fake = FakeResponses()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url + "/v1"  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="session")
def fake_gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="session")
def fake_scripted() -> Iterator[ScriptedUpstream]:
    """OpenAI-format deployments under /<name>/v1 (tests/fakes/scripted_upstream.py); each module uses
    deployment names of its own."""
    fake = ScriptedUpstream()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()
