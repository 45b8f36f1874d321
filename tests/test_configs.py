"""Every ready-made config in configs/ passes `llm-link check` (given dummy values for its required variables),
and the GLM-behind-Ollama configs serve Ollama clients as the README says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import ollama
import pytest
import yaml

from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.harness import ROOT, Gateway

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
_REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _dummy_env(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_LINK_")}
    for name in _REQUIRED.findall(path.read_text()):
        env[name] = "dummy-" + name.lower()
    return env


def test_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {
        "zed.yaml",
        "glm-ollama.yaml",
        "glm-ollama-auth.yaml",
        "deepseek.yaml",
        "moonshot.yaml",
        "openrouter.yaml",
        "vllm.yaml",
        "ollama-local.yaml",
        "aliyun.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_passes_check(path: Path) -> None:
    env = _dummy_env(path)
    r = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert ": OK" in r.stdout
    for value in env.values():  # a key must never be printed
        if value.startswith("dummy-") and "key" in value:
            assert value not in r.stdout


@pytest.mark.parametrize("path", [p for p in CONFIGS if _REQUIRED.search(p.read_text())], ids=lambda p: p.name)
def test_config_without_its_keys_names_the_variable(path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_LINK_")}
    missing = _REQUIRED.findall(path.read_text())
    for name in missing:
        env.pop(name, None)
    r = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 1 and missing[0] in r.stderr


@pytest.mark.parametrize("name", ["glm-ollama.yaml", "glm-ollama-auth.yaml"])
def test_glm_configs_serve_ollama_clients(name: str, fake_openai: FakeOpenAI) -> None:
    """GLM is OpenAI-compatible: the fake OpenAI upstream stands in for open.bigmodel.cn."""
    text = (ROOT / "configs" / name).read_text()
    env = {
        "ZHIPU_API_KEY": API_KEY,
        "ZHIPU_BASE_URL": fake_openai.url,  # type: ignore[attr-defined]
        "LLM_LINK_KEY": "sk-gateway-test-key",
    }
    raw = yaml.safe_load(text)
    raw["server"]["host"] = "127.0.0.1"
    with Gateway(yaml.safe_dump(raw), env=env) as gw:
        client = ollama.Client(host=gw.url, headers={"Authorization": "Bearer sk-gateway-test-key"})
        r = client.chat(model="glm-4.6", messages=[{"role": "user", "content": "ni hao"}], options={"temperature": 1.0})
        assert r.message.content == "echo: ni hao"
        assert fake_openai.last["model"] == "glm-4.6"
        assert 0 < fake_openai.last["temperature"] < 1  # GLM's open interval
        show = client.show("glm-4.6:latest")
        assert show.modelinfo["glm4.context_length"] == 200000  # type: ignore[index]
        assert "tools" in (show.capabilities or [])
        keyless = ollama.Client(host=gw.url)
        if name == "glm-ollama-auth.yaml":  # the key is required, and a wrong one is refused
            for c in (keyless, ollama.Client(host=gw.url, headers={"Authorization": "Bearer wrong"})):
                with pytest.raises(ollama.ResponseError) as info:
                    c.chat(model="glm-4.6", messages=[{"role": "user", "content": "x"}])
                assert info.value.status_code == 401
        else:
            assert keyless.chat(model="glm-4.6", messages=[{"role": "user", "content": "x"}]).message.content
