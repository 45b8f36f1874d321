from __future__ import annotations

import os
from pathlib import Path

# Every gateway a test starts (`python -m gateway.cli ...`) runs this checkout's code, whichever copy of
# the package pip installed last.
_ROOT = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)

from collections.abc import Iterator

import pytest

from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

# The fake Ollama and DashScope upstreams, shared by every module that names them.
pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url + "/v1"  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="session")
def openai_gateway(fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    """One gateway for the OpenAI-dialect suite: the mock, a fake OpenAI upstream, a short-timeout
    provider for deadline tests, and a provider pointing at a closed port."""
    config = {
        "server": {"max_body_bytes": 200_000},
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 3}},
            "oai": {
                "type": "openai",
                "base_url": fake_openai.url,
                "api_key": OPENAI_KEY,  # type: ignore[attr-defined]
                "headers": {"X-Team": "blue"},
            },
            "hasty": {
                "type": "openai",
                "base_url": fake_openai.url,
                "api_key": OPENAI_KEY,  # type: ignore[attr-defined]
                "timeout": 1,
            },
            "dead": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-dead", "connect_timeout": 2},
        },
        "models": {
            "demo": "mock/demo",
            "gpt-test": "oai/gpt-test",
            "gpt-alias": {"provider": "oai", "model": "gpt-test"},
            "reasoner": "oai/reasoning",
            "slowpoke": "hasty/slow",
            "ghost": "dead/anything",
        },
    }
    with Gateway(config) as gw:
        yield gw


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """A real PostgreSQL server for the database tests; each test takes a fresh database from it. In CI it
    must exist (.ci/setup.d/40-admin.sh installs it); elsewhere the tests skip without it."""
    from tests.postgres_server import PostgresServer, binaries

    if binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed (CI installs Debian's postgresql package)")
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer().start()
    yield server
    server.stop()
