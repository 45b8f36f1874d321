"""gemini-cli, the real one, against the gateway: `GOOGLE_GEMINI_BASE_URL` pointed at `/gemini`, the
gateway key as `GEMINI_API_KEY`, a non-interactive prompt (`-p`) with tools auto-approved. The fake
upstreams play a scripted agent turn (tests/fakes/tool_script.py): the model asks gemini-cli's shell tool
to run the command in the prompt, gemini-cli runs it and sends the output back, and the answer quotes it,
so the stream, the function call and the function response all cross the gateway.

Offline: telemetry, usage statistics and update checks are off in a throw-away HOME. The binary comes from
.ci/setup.d/40-gemini.sh (`.ci/node`), or $GEMINI_CLI; without it the test fails under CI=true and
is skipped elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.gemini_upstream import API_KEY as GEMINI_KEY
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import API_KEY as OPENAI_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.tool_script import ANSWER_PREFIX
from tests.harness import ROOT, Gateway

GATEWAY_KEY = "llm-link-gemini-cli-key"
MARKER = "gemini-cli-e2e-marker"
SETTINGS = {
    "telemetry": {"enabled": False},
    "privacy": {"usageStatisticsEnabled": False},
    "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    "security": {"auth": {"selectedType": "gemini-api-key"}},
}


def gemini_binary() -> str:
    for candidate in (os.environ.get("GEMINI_CLI"), str(ROOT / ".ci/node/node_modules/.bin/gemini")):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("gemini")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("gemini-cli is missing: .ci/setup.d/40-gemini.sh installs it into .ci/node")
    pytest.skip("gemini-cli not installed (bash .ci/setup.d/40-gemini.sh)")


@pytest.fixture(scope="module")
def gw(fake_gemini: FakeGemini, fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    config = {
        "providers": {
            "mock": {"type": "mock"},
            "gem": {"type": "gemini", "base_url": fake_gemini.url, "api_key": GEMINI_KEY},  # type: ignore[attr-defined]
            "oai": {"type": "openai", "base_url": fake_openai.url, "api_key": OPENAI_KEY},  # type: ignore[attr-defined]
        },
        # gemini-cli's own helper calls (routing classifier ...) ask for Google's model names: the mock answers.
        "models": {"demo": "mock/demo", "script-gemini": "gem/script", "script-openai": "oai/script"},
        "default_model": "demo",
        "auth": {"keys": [{"name": "cli", "key": GATEWAY_KEY}]},
    }
    with Gateway(config) as g:
        yield g


@pytest.mark.parametrize("model", ["script-gemini", "script-openai"])
def test_gemini_cli_runs_a_tool_through_the_gateway(gw: Gateway, model: str) -> None:
    binary = gemini_binary()
    home = Path(tempfile.mkdtemp(prefix="gemini-cli-home-"))
    (home / ".gemini").mkdir()
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    workspace = home / "workspace"
    workspace.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "GEMINI_API_KEY": GATEWAY_KEY,
        "GOOGLE_GEMINI_BASE_URL": gw.url + "/gemini",
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [binary, "-m", model, "--approval-mode", "yolo", "-p", f"please run `echo {MARKER}`"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert ANSWER_PREFIX in done.stdout and MARKER in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [json.loads(line) for line in gw.log().splitlines() if line.startswith("{") and f'"{model}"' in line]
    turns = [line for line in lines if line.get("dialect") == "gemini" and line.get("status") == 200]
    assert len(turns) >= 2 and all(line["stream"] and line["key"] == "cli" for line in turns)
    shutil.rmtree(home, ignore_errors=True)
