"""Peers for `--peers`: LiteLLM proxy (PyPI) and Portkey gateway (npm), installed into throwaway
environments OUTSIDE the repository ($LLM_LINK_PEERS_DIR, default ~/.cache/llm-link-bench) and pointed at
the bench upstream on 127.0.0.1.

  LiteLLM: python -m venv DIR/litellm/venv && DIR/litellm/venv/bin/pip install 'litellm[proxy]'
           run: litellm --config cfg.yaml --host 127.0.0.1 --port P --num_workers 2
  Portkey: npm install @portkey-ai/gateway (in DIR/portkey), run: node .../build/start-server.js --port=P
           (single node process; provider and upstream chosen per request by x-portkey-* headers)

Both run with their default logging; LiteLLM with LITELLM_LOCAL_MODEL_COST_MAP=True so it makes no
network calls at start."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bench.systems import DIALECT_HEADERS, Route, System

PEERS_DIR = Path(os.environ.get("LLM_LINK_PEERS_DIR", Path.home() / ".cache" / "llm-link-bench"))


def _run(cmd: list[str], cwd: Path, log: Path, timeout: float = 900) -> None:
    with open(log, "ab") as f:
        out = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed; see {log}")


class LiteLLM(System):
    name = "litellm"

    def __init__(self, workdir: Path, upstream: str, workers: int = 2) -> None:
        super().__init__(workdir)
        self.upstream, self.workers = upstream, workers
        self.home = PEERS_DIR / "litellm"
        self.venv = self.home / "venv"
        self.config_path = workdir / f"litellm-{self.port}.yaml"
        # The proxy refuses to start without a master key; a throwaway strong one per run.
        self.master_key = "sk-bench-" + secrets.token_hex(24)

    @classmethod
    def install(cls) -> str:
        home = PEERS_DIR / "litellm"
        home.mkdir(parents=True, exist_ok=True)
        venv = home / "venv"
        if not (venv / "bin" / "litellm").exists():
            print(f"  installing LiteLLM proxy into {venv} (pip, a few minutes the first time) ...", flush=True)
            _run([sys.executable, "-m", "venv", str(venv)], home, home / "install.log")
            _run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], home, home / "install.log")
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip()

    def command(self) -> list[str]:
        return [
            str(self.venv / "bin" / "litellm"),
            "--config",
            str(self.config_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--num_workers",
            str(self.workers),
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False", NO_DOCS="True")
        return env

    def start(self, timeout: float = 180) -> System:
        self.version = self.install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        base = self.upstream + "/v1"
        self.config_path.write_text(
            yaml.safe_dump(
                {
                    "model_list": [
                        {
                            "model_name": name,
                            "litellm_params": {
                                "model": f"openai/{name}",
                                "api_base": base,
                                "api_key": "sk-bench-upstream",
                            },
                        }
                        for name in ("bench", "slow")
                    ],
                    "litellm_settings": {"telemetry": False},
                    "general_settings": {"master_key": self.master_key},
                }
            )
        )
        return super().start(timeout)

    def ready_path(self) -> str:
        return "/health/liveliness"

    def route(self, dialect: str) -> Route | None:
        auth = {"Authorization": f"Bearer {self.master_key}"}
        if dialect == "openai":
            return Route("/v1/chat/completions", {**DIALECT_HEADERS["openai"], **auth})
        if dialect == "anthropic":
            return Route("/v1/messages", {**DIALECT_HEADERS["anthropic"], **auth, "x-api-key": self.master_key})
        return None  # LiteLLM proxy serves no Ollama-compatible client API


class Portkey(System):
    name = "portkey"

    def __init__(self, workdir: Path, upstream: str) -> None:
        super().__init__(workdir)
        self.upstream = upstream
        self.home = PEERS_DIR / "portkey"

    @classmethod
    def install(cls) -> str:
        home = PEERS_DIR / "portkey"
        home.mkdir(parents=True, exist_ok=True)
        pkg = home / "node_modules" / "@portkey-ai" / "gateway" / "package.json"
        if not pkg.exists():
            if shutil.which("npm") is None:
                raise RuntimeError("npm not found: install Node.js 18+ to benchmark Portkey")
            print(f"  installing Portkey gateway into {home} (npm) ...", flush=True)
            if not (home / "package.json").exists():
                (home / "package.json").write_text('{"name": "llm-link-bench-peers", "private": true}\n')
            _run(["npm", "install", "--no-audit", "--no-fund", "@portkey-ai/gateway"], home, home / "install.log")
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        return f"{json.loads(pkg.read_text())['version']} (node {node})"

    def command(self) -> list[str]:
        script = self.home / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
        return ["node", str(script), f"--port={self.port}", "--headless"]

    def env(self) -> dict[str, str]:
        return {**os.environ, "NODE_ENV": "production"}

    def start(self, timeout: float = 60) -> System:
        self.version = self.install()
        return super().start(timeout)

    def ready_path(self) -> str:
        return "/"

    def _ready(self) -> bool:
        import http.client

        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return True  # any HTTP answer means node is listening
        except OSError:
            return False

    def route(self, dialect: str) -> Route | None:
        extra = {"x-portkey-provider": "openai", "x-portkey-custom-host": self.upstream + "/v1"}
        if dialect == "openai":
            return Route("/v1/chat/completions", {**DIALECT_HEADERS["openai"], **extra})
        if dialect == "anthropic":
            return Route("/v1/messages", {**DIALECT_HEADERS["anthropic"], **extra, "Authorization": "Bearer sk-bench"})
        return None
