"""The real Claude Code (`claude -p`) runs a tool-using task through llm-link's /anthropic endpoint: with an
Anthropic upstream the gateway forwards its Messages calls as sent (the same-API lane, betas and all), with an
OpenAI-compatible upstream it translates them. The fakes play model `script` (tests/fakes/tool_script.py):
the first turn asks for Claude Code's Read tool on the file named in the prompt, the second quotes what the
tool returned. Claude Code's background haiku turns go through the `claude-*haiku*` alias, as in
configs/claude-code.yaml.

Claude Code runs offline: a gateway key from the environment (no login), a temp HOME, telemetry, error
reports, the updater and non-essential traffic off. The binary comes from `.ci/setup.d/40-claude.sh`
(`.ci/node/node_modules/.bin/claude`), `$LLM_LINK_CLAUDE`, or PATH. Without it these tests skip locally and
fail in CI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_tools import SECRET, cli_env, require_cli, run_report, work_dir
from tests.fakes import tool_script
from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import Gateway

GATEWAY_KEY = "llm-link-claude-code-test-key"


@pytest.fixture(scope="module")
def claude() -> str:
    return require_cli("claude", "LLM_LINK_CLAUDE", "Claude Code", ".ci/setup.d/40-claude.sh")


def gateway_config(provider: dict[str, str], fast_model: str) -> dict[str, object]:
    """configs/claude-code.yaml's shape: Claude Code's model names aliased to `smart` (the scripted agent)
    and, for its haiku background turns, `fast`."""
    return {
        "auth": {"keys": [{"name": "claude-code", "key": GATEWAY_KEY}]},
        "providers": {"upstream": provider},
        "models": {"smart": "upstream/script", "fast": f"upstream/{fast_model}"},
        "aliases": {"claude-*haiku*": "fast", "claude-*": "smart"},
        "default_model": "smart",
    }


@pytest.fixture(scope="module")
def forwarding_gateway(claude: str, fake_anthropic: FakeAnthropic) -> Iterator[Gateway]:
    provider = {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY}  # type: ignore[attr-defined]
    with Gateway(gateway_config(provider, "claude-test")) as gw:
        yield gw


@pytest.fixture(scope="module")
def translating_gateway(claude: str, fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    provider = {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY}  # type: ignore[attr-defined]
    with Gateway(gateway_config(provider, "gpt-4o-mini")) as gw:
        yield gw


def run_claude(claude: str, gateway: Gateway, home: Path) -> tuple[dict[str, object], str]:
    """Runs `claude -p` in a fresh work dir; returns (its JSON result, a report for failed assertions)."""
    work = work_dir(home)
    note = work / "note.txt"
    env = cli_env(
        home,
        ANTHROPIC_BASE_URL=gateway.url + "/anthropic",
        ANTHROPIC_API_KEY=GATEWAY_KEY,
        ANTHROPIC_AUTH_TOKEN=GATEWAY_KEY,
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_BUG_COMMAND="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        CLAUDE_CODE_MAX_RETRIES="0",
    )
    prompt = f"Use the Read tool to read the file `{note}` and tell me what it says."
    proc = subprocess.run(
        # as root --dangerously-skip-permissions is refused: allow just the one tool the task needs
        [claude, "-p", prompt, "--output-format", "json", "--allowedTools", "Read"],
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    report = run_report(proc, gateway)
    assert proc.returncode == 0, report
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, report
    return json.loads(lines[-1]), report


def check_result(result: dict[str, object], report: str) -> None:
    assert result.get("is_error") is False, report
    assert SECRET in str(result.get("result")), report  # the answer quotes what the Read tool returned
    assert str(result.get("result")).startswith(tool_script.ANSWER_PREFIX), report


def test_claude_code_reads_a_file_through_the_forwarding_lane(
    claude: str, forwarding_gateway: Gateway, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    before = len(fake_anthropic.requests)
    result, report = run_claude(claude, forwarding_gateway, tmp_path)
    check_result(result, report)
    sent = list(zip(fake_anthropic.requests[before:], fake_anthropic.headers[before:], strict=True))
    agent = [(body, headers) for body, headers in sent if body.get("model") == "script"]
    assert agent, report
    # the tool_result turn reached the upstream with the file's content
    results = [
        block
        for body, _ in agent
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert results and SECRET in json.dumps(results), report
    # forwarded as Claude Code sent it: its beta flags reach the upstream
    betas = {headers.get("anthropic-beta", headers.get("Anthropic-Beta", "")) for _, headers in agent}
    assert any(betas), (betas, report)


def test_claude_code_reads_a_file_through_the_translating_lane(
    claude: str, translating_gateway: Gateway, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    before = len(fake_openai.requests)
    result, report = run_claude(claude, translating_gateway, tmp_path)
    check_result(result, report)
    agent = [body for body in fake_openai.requests[before:] if body.get("model") == "script"]
    assert agent, report
    tool_turns = [m for body in agent for m in body["messages"] if m.get("role") == "tool"]
    assert tool_turns and SECRET in json.dumps(tool_turns), report
    calls = [c for body in agent for m in body["messages"] for c in m.get("tool_calls") or []]
    assert calls and calls[0]["function"]["name"] == "Read", report
    # Claude Code's Anthropic-only fields (context management, deferred tools ...) did not reach the OpenAI
    # upstream, and each was counted as dropped (SPEC §7)
    assert not any("context_management" in json.dumps(body) for body in agent), report
    metrics = httpx.get(translating_gateway.url + "/metrics").text
    assert 'field="context_management"' in metrics and 'dialect="anthropic"' in metrics, metrics
