"""What the end-to-end tests of real coding CLIs share (tests/test_claude_code_e2e.py, tests/test_codex_e2e.py):
finding the pinned binary, skipping without it locally and failing in CI, the file the scripted task reads,
a minimal environment, and the report printed when a run fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT, Gateway

SECRET = "the secret is 4711-banana"  # in the file the task reads; the answer must quote it


def cli_binary(name: str, env_var: str) -> str | None:
    """`$env_var`, else the copy a `.ci/setup.d` script installed into `.ci/node`, else PATH."""
    for candidate in (os.environ.get(env_var), str(ROOT / ".ci/node/node_modules/.bin" / name)):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which(name)


def require_cli(name: str, env_var: str, what: str, setup: str) -> str:
    """The binary, or a skip (a fail under CI=true, where the setup script must have installed it)."""
    binary = cli_binary(name, env_var)
    if binary is None:
        message = f"{what} is not installed (bash {setup})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def work_dir(home: Path) -> Path:
    """A fresh work dir under `home` holding note.txt with the secret."""
    work = home / "work"
    work.mkdir()
    (work / "note.txt").write_text(SECRET + "\n")
    return work


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """Only what the CLI needs: PATH, a temp HOME, no colours, plus `extra`."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1", **extra}


def run_report(proc: subprocess.CompletedProcess[str], gateway: Gateway | None = None) -> str:
    report = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    if gateway is not None:
        report += "\ngateway log:\n" + gateway.log()[-4000:]
    return report
