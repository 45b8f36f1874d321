"""Embeddings across dialects: OpenAI `/v1/embeddings` (float and base64) and Ollama `/api/embed` /
`/api/embeddings`, against openai, ollama, aliyun and mock providers; a clear 400 where a provider has none."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from tests.fakes.aliyun_upstream import FakeAliyun
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.harness import Gateway

PROVIDERS = ["openai", "ollama", "aliyun", "mock"]
MODELS = {"openai": "e-openai", "ollama": "e-ollama", "aliyun": "e-aliyun", "mock": "e-mock"}
INPUTS = ["hello", "embed me please"]


def expected(provider: str, text: str) -> list[float] | None:
    """What each fake upstream answers (the mock's vectors are checked for shape only)."""
    if provider in ("openai", "aliyun"):
        return [0.5, -0.25, float(len(text)), 1.0]
    if provider == "ollama":
        v = [float(len(text)), 1.0, -2.0]
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]
    return None


def unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


@pytest.fixture(scope="module")
def gw(fake_openai: FakeOpenAI, fake_ollama: FakeOllama, fake_aliyun: FakeAliyun) -> Iterator[Gateway]:
    config = {
        "providers": {
            "mock": {"type": "mock", "options": {"embedding_dimensions": 16}},
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": API_KEY},  # type: ignore[attr-defined]
            "oll": {"type": "ollama", "base_url": fake_ollama.url},  # type: ignore[attr-defined]
            "ali": {"type": "aliyun", "base_url": fake_aliyun.url, "api_key": API_KEY},  # type: ignore[attr-defined]
            "claude": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "sk-ant-unused"},
        },
        "models": {
            "e-openai": "oai/text-embedding-3-small",
            "e-ollama": "oll/nomic-embed-text",
            "e-aliyun": "ali/text-embedding-v3",
            "e-mock": "mock/embed",
            "e-claude": "claude/claude-test",
        },
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def oll(gw: Gateway) -> ollama.Client:
    return ollama.Client(host=gw.url + "/ollama")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_default_base64(oai: openai.OpenAI, provider: str) -> None:
    r = oai.embeddings.create(model=MODELS[provider], input=INPUTS)  # the SDK asks for base64 and decodes it
    assert [d.index for d in r.data] == [0, 1] and r.model == MODELS[provider]
    for d, text in zip(r.data, INPUTS):
        want = expected(provider, text)
        if want is None:
            assert len(d.embedding) == 16 and abs(math.sqrt(sum(x * x for x in d.embedding)) - 1) < 1e-5
        else:
            assert d.embedding == pytest.approx(want, rel=1e-6)
    assert r.usage.prompt_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_float_and_base64_agree(gw: Gateway, provider: str) -> None:
    url = gw.url + "/v1/embeddings"
    floats = httpx.post(url, json={"model": MODELS[provider], "input": "same text", "encoding_format": "float"}).json()
    b64 = httpx.post(url, json={"model": MODELS[provider], "input": "same text", "encoding_format": "base64"}).json()
    vec = floats["data"][0]["embedding"]
    raw = base64.b64decode(b64["data"][0]["embedding"])
    decoded = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    assert isinstance(vec, list) and decoded == pytest.approx(vec, rel=1e-6)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_ollama_embed_returns_unit_vectors(oll: ollama.Client, provider: str) -> None:
    r = oll.embed(model=MODELS[provider], input=INPUTS)
    assert len(r.embeddings) == 2 and r.model == MODELS[provider]
    for vec, text in zip(r.embeddings, INPUTS):
        assert abs(math.sqrt(sum(x * x for x in vec)) - 1) < 1e-6
        want = expected(provider, text)
        if want is not None:
            assert list(vec) == pytest.approx(unit(want), rel=1e-6)
    assert (r.prompt_eval_count or 0) > 0 and (r.total_duration or 0) > 0
    single = oll.embed(model=MODELS[provider], input="hello")
    assert len(single.embeddings) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_ollama_legacy_embeddings(oll: ollama.Client, provider: str) -> None:
    r = oll.embeddings(model=MODELS[provider], prompt="hello")
    want = expected(provider, "hello")
    assert len(r.embedding) == (16 if want is None else len(want))
    if want is not None:
        assert list(r.embedding) == pytest.approx(want, rel=1e-6)


def test_dimensions_reach_the_upstream(
    oai: openai.OpenAI, oll: ollama.Client, fake_openai: FakeOpenAI, fake_ollama: FakeOllama
) -> None:
    oai.embeddings.create(model="e-openai", input="x", dimensions=256)
    assert fake_openai.last["dimensions"] == 256 and fake_openai.last["encoding_format"] == "float"
    oll.embed(model="e-ollama", input="x", dimensions=64)
    assert fake_ollama.last["dimensions"] == 64 and fake_ollama.last["input"] == ["x"]
    assert len(oll.embed(model="e-mock", input="x", dimensions=4).embeddings[0]) == 4


def test_aliyun_batches_more_than_ten_inputs(oai: openai.OpenAI, fake_aliyun: FakeAliyun) -> None:
    texts = [f"text {'x' * i}" for i in range(12)]
    r = oai.embeddings.create(model="e-aliyun", input=texts, encoding_format="float")
    assert [d.embedding[2] for d in r.data] == [float(len(t)) for t in texts]  # order kept across batches
    assert len(fake_aliyun.last["input"]) == 2


def test_provider_without_embeddings_is_a_clear_400(oai: openai.OpenAI, oll: ollama.Client) -> None:
    with pytest.raises(openai.BadRequestError, match="does not support embeddings"):
        oai.embeddings.create(model="e-claude", input="x")
    with pytest.raises(ollama.ResponseError) as exc:
        oll.embed(model="e-claude", input="x")
    assert exc.value.status_code == 400 and "does not support embeddings" in exc.value.error


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/embeddings", {"model": "e-mock", "input": []}, "input"),
        ("/v1/embeddings", {"model": "e-mock", "input": [""]}, "input"),
        ("/v1/embeddings", {"model": "e-mock"}, "input"),
        ("/ollama/api/embed", {"model": "e-mock"}, "input is required"),
        ("/ollama/api/embed", {"model": "e-mock", "input": ["ok", ""]}, "input"),
        ("/ollama/api/embed", {"model": "e-mock", "input": 5}, "input"),
        ("/ollama/api/embed", {"input": "x"}, "model is required"),
        ("/ollama/api/embed", {"model": "e-mock", "input": ["x"] * 2049}, "at most 2048"),
    ],
    ids=[
        "openai-empty-list",
        "openai-empty-string",
        "openai-missing",
        "ollama-missing",
        "ollama-empty-string",
        "ollama-type",
        "ollama-no-model",
        "ollama-too-many",
    ],
)
def test_bad_embedding_input_is_400(gw: Gateway, path: str, body: dict, fragment: str) -> None:
    r = httpx.post(gw.url + path, json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert fragment in (err if isinstance(err, str) else err["message"])


def test_unknown_embedding_model_is_404(oll: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as exc:
        oll.embed(model="no-such-embedder", input="x")
    assert exc.value.status_code == 404
