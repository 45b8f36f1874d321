"""The real Codex CLI (`codex exec`) runs a tool-using task through llm-link: Codex speaks only the Responses
API, the gateway serves it from an OpenAI-compatible (chat), an Anthropic, an Ollama and an `api: responses`
upstream. Each fake upstream plays model `script` (tests/fakes/tool_script.py): its first turn asks Codex's
shell tool to run the command in the prompt, its second quotes the tool output. So a passing test shows the
tool call reached Codex, Codex ran it, and the output made the round trip back upstream.

Codex runs fully offline: an API key from the environment (no login), analytics, feedback, plugins and the
update check off (with these settings it resolves no host at all), no retries. The binary comes from
`.ci/setup.d/40-codex.sh` (`.ci/node/node_modules/.bin/codex`), `$LLM_LINK_CODEX`, or PATH. Without it these
tests skip locally and fail in CI."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_tools import SECRET, cli_env, require_cli, run_report, work_dir
from tests.fakes import tool_script
from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.responses_upstream import API_KEY as RESPONSES_KEY
from tests.fakes.responses_upstream import FakeResponses
from tests.harness import Gateway

GATEWAY_KEY = "llm-link-codex-test-key"
PROMPT = "Run the shell command `cat note.txt` and tell me what it prints."
OFFLINE = """\
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
"""
CUSTOM_PROVIDER = """\
model_provider = "llm-link"
{offline}
[model_providers.llm-link]
name = "llm-link"
base_url = "{base_url}"
env_key = "LLM_LINK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 60000
supports_websockets = {websockets}
"""
# Codex's built-in `openai` provider pointed at the gateway (key from `codex login --with-api-key`): it speaks
# Responses over WebSocket.
BUILTIN_PROVIDER = """\
openai_base_url = "{base_url}"
{offline}"""


@pytest.fixture(scope="module")
def codex() -> str:
    return require_cli("codex", "LLM_LINK_CODEX", "the Codex CLI", ".ci/setup.d/40-codex.sh")


@pytest.fixture(scope="module")
def gateway(
    codex: str,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_ollama: FakeOllama,
    fake_responses: FakeResponses,
) -> Iterator[Gateway]:
    config = {
        "auth": {"keys": [{"name": "codex", "key": GATEWAY_KEY}]},
        "providers": {
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
            "claude": {"type": "anthropic", "base_url": fake_anthropic.url, "api_key": ANTHROPIC_KEY},  # type: ignore[attr-defined]
            "oll": {"type": "ollama", "base_url": fake_ollama.url},  # type: ignore[attr-defined]
            "resp": {"type": "openai", "api": "responses", "base_url": fake_responses.url, "api_key": RESPONSES_KEY},  # type: ignore[attr-defined]
        },
        "models": {
            "codex-openai": "oai/script",
            "codex-anthropic": "claude/script",
            "codex-ollama": "oll/script",
            "codex-responses": "resp/script",
        },
    }
    with Gateway(config) as gw:
        yield gw


def run_codex(
    codex: str, gateway: Gateway, model: str, home: Path, builtin: bool = False, websockets: bool = False
) -> tuple[subprocess.CompletedProcess[str], str]:
    (home / "codex").mkdir()
    template = BUILTIN_PROVIDER if builtin else CUSTOM_PROVIDER
    config = template.format(base_url=gateway.url + "/v1", offline=OFFLINE, websockets=str(websockets).lower())
    (home / "codex" / "config.toml").write_text(config)
    work = work_dir(home)
    last = home / "last-message.txt"
    env = cli_env(home, CODEX_HOME=str(home / "codex"), LLM_LINK_API_KEY=GATEWAY_KEY)
    if builtin:  # the built-in provider takes its key from a login (stored locally, checked on use)
        login = subprocess.run(
            [codex, "login", "--with-api-key"], input=GATEWAY_KEY, capture_output=True, text=True, env=env, timeout=60
        )
        assert login.returncode == 0, login.stderr
    proc = subprocess.run(
        [
            codex,
            "exec",
            "--json",
            "--skip-git-repo-check",  # the work dir is no git repository
            "--dangerously-bypass-approvals-and-sandbox",  # no approval prompts, no sandbox helper needed
            "--ephemeral",
            "-m",
            model,
            "-C",
            str(work),
            "-o",
            str(last),
            PROMPT,
        ],
        stdin=subprocess.DEVNULL,  # else exec waits for more prompt on stdin
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return proc, last.read_text() if last.exists() else ""


@pytest.mark.parametrize("upstream", ["openai", "anthropic", "ollama", "responses"])
def test_codex_runs_a_tool_using_task(
    codex: str, gateway: Gateway, upstream: str, tmp_path: Path, fake_responses: FakeResponses
) -> None:
    proc, last_message = run_codex(codex, gateway, f"codex-{upstream}", tmp_path)
    check_run(proc, last_message)
    log = gateway.log()
    assert f'"model":"codex-{upstream}"' in log.replace(" ", "")
    # Codex offers its hosted web_search tool: only a Responses upstream runs it, elsewhere it is dropped
    metrics = httpx.get(gateway.url + "/metrics").text
    provider = {"openai": "oai", "anthropic": "claude", "ollama": "oll", "responses": "resp"}[upstream]
    labels = ('dialect="responses"', f'provider="{provider}"', 'field="tools.web_search"')
    dropped = [
        line
        for line in metrics.splitlines()
        if line.startswith("llm_link_dropped_fields_total{") and all(x in line for x in labels)
    ]
    assert bool(dropped) == (upstream != "responses"), metrics
    if upstream == "responses":  # forwarded as Codex sent it: its own fields reach the upstream
        assert "client_metadata" in fake_responses.last and fake_responses.last["model"] == "script"


def websocket_messages(gateway: Gateway, at_least: int = 0) -> int:
    """response.create messages the gateway answered over WebSocket (its log line per closed connection),
    waiting a moment for `at_least` (the line is written as the server sees Codex's connection close)."""
    marker = "responses websocket closed after "
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in gateway.log().splitlines() if marker in line]
        n = sum(int(line.split(marker)[1].split()[0]) for line in lines)
        if n >= at_least or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


@pytest.mark.parametrize("upstream", ["openai", "anthropic"])
def test_codex_runs_a_tool_using_task_over_websocket(
    codex: str, gateway: Gateway, upstream: str, tmp_path: Path
) -> None:
    """A custom provider with `supports_websockets = true`: the whole task (tool call, then the answer that
    quotes the tool's output) goes over the Responses WebSocket, translated for a non-OpenAI upstream too."""
    before = websocket_messages(gateway)
    proc, last_message = run_codex(codex, gateway, f"codex-{upstream}", tmp_path, websockets=True)
    check_run(proc, last_message)
    assert websocket_messages(gateway, before + 2) - before >= 2, gateway.log()[-3000:]


def test_codex_builtin_provider_speaks_websocket(codex: str, gateway: Gateway, tmp_path: Path) -> None:
    """`openai_base_url` at the gateway: Codex's built-in provider runs the task over the WebSocket."""
    before = websocket_messages(gateway)
    proc, last_message = run_codex(codex, gateway, "codex-openai", tmp_path, builtin=True)
    check_run(proc, last_message)
    assert websocket_messages(gateway, before + 2) - before >= 2, gateway.log()[-3000:]


def check_run(proc: subprocess.CompletedProcess[str], last_message: str) -> None:
    report = run_report(proc)
    assert proc.returncode == 0, report
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    commands = [
        e["item"] for e in events if e.get("type") == "item.completed" and e["item"].get("type") == "command_execution"
    ]
    assert commands and "cat note.txt" in commands[0]["command"], report
    assert SECRET in commands[0]["aggregated_output"], report  # Codex really ran the tool
    assert last_message.startswith(tool_script.ANSWER_PREFIX) and SECRET in last_message, report
