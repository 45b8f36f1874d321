"""The systems under test, each a server process tree on 127.0.0.1: the mock upstream itself ("direct"),
the bare passthrough, llm-link, and (bench.peers) LiteLLM proxy and Portkey gateway.

A system knows how a client of each dialect reaches it (path and headers) or says it cannot."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Route:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


DIALECT_HEADERS = {
    "openai": {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
    "responses": {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
    "anthropic": {"Content-Type": "application/json", "x-api-key": "sk-bench", "anthropic-version": "2023-06-01"},
    "ollama": {"Content-Type": "application/json"},
}


class System:
    name = "?"
    version = ""
    workers = 1
    note = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}-{self.port}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def route(self, dialect: str) -> Route | None:
        """How a client of `dialect` reaches this system; None = not offered at all."""
        raise NotImplementedError

    def ready_path(self) -> str:
        return "/health"

    def start(self, timeout: float = 90) -> System:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.proc.returncode}; log {self.log_path}:\n"
                        + self.log_path.read_text(errors="replace")[-3000:]
                    )
                if self._ready():
                    return self
                time.sleep(0.2)
        except BaseException:
            self.stop()  # interrupted while starting: leave nothing behind
            raise
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f}s; see {self.log_path}")

    def _ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", self.ready_path())
            ok = conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()
        if ok and self.sanic_workers:
            return self.log_path.read_text(errors="replace").count("Worker ready") >= self.sanic_workers
        return ok

    sanic_workers = 0  # Sanic systems: also wait until every worker logged "Worker ready"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass


class Upstream(System):
    """The mock upstream. As a system under test it is the "direct" baseline: clients call it without a
    gateway, each dialect on its own wire format."""

    name = "direct"

    def __init__(
        self, workdir: Path, chunks: int = 20, slow_chunks: int = 20, slow_delay: float = 1.0, latency: float = 0.0
    ) -> None:
        super().__init__(workdir)
        self.args = [
            "--chunks",
            str(chunks),
            "--slow-chunks",
            str(slow_chunks),
            "--slow-delay",
            str(slow_delay),
            "--latency",
            str(latency),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.upstream", "--port", str(self.port), *self.args]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT)}

    def route(self, dialect: str) -> Route | None:
        path = {
            "openai": "/v1/chat/completions",
            "responses": "/v1/responses",
            "anthropic": "/v1/messages",
            "anthropic-native": "/v1/messages",
            "ollama": "/api/chat",
        }[dialect]
        return Route(path, DIALECT_HEADERS[dialect.removesuffix("-native")])


class Passthrough(System):
    name = "passthrough"

    def __init__(self, workdir: Path, upstream: str, workers: int = 2) -> None:
        super().__init__(workdir)
        self.upstream, self.workers, self.sanic_workers = upstream, workers, workers
        import sanic

        self.version = f"sanic {sanic.__version__}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench.passthrough",
            "--upstream",
            self.upstream,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT)}

    def route(self, dialect: str) -> Route | None:
        if dialect == "anthropic-native":  # Anthropic on both sides: relayed like the OpenAI chat
            return Route("/v1/messages", DIALECT_HEADERS["anthropic"])
        return Route("/v1/chat/completions", DIALECT_HEADERS["openai"]) if dialect == "openai" else None


class LLMLink(System):
    """llm-link as users run it: `llm-link serve -c FILE --workers N`, an `openai` provider pointing at the
    mock, routing through the models table, metrics on, and the access log ON at info level (one JSON line
    per request, written to the log file)."""

    name = "llm-link"

    def __init__(
        self,
        workdir: Path,
        upstream: str,
        workers: int = 2,
        telemetry: dict[str, Any] | None = None,
        name: str | None = None,
        root: Path | None = None,
        passthrough: bool = True,
    ) -> None:
        self.name = name or self.name
        self.passthrough = passthrough  # llm-link-translated: the same API rebuilt instead of forwarded (§7)
        super().__init__(workdir)
        self.upstream, self.workers, self.sanic_workers = upstream, workers, workers
        self.telemetry = telemetry  # llm-link-traced: every request traced, spans to the mock's OTLP sink
        self.root = root or ROOT  # another checkout (llm-link-base: the same bench against older code)
        from gateway import __version__

        self.version = __version__
        try:
            # -dirty: gateway files were being edited in the checkout while the bench ran
            self.version += (
                "@"
                + subprocess.run(
                    ["git", "describe", "--always", "--dirty"], cwd=self.root, capture_output=True, text=True, timeout=5
                ).stdout.strip()
            )
        except (OSError, subprocess.SubprocessError):
            pass
        self.config_path = workdir / f"llm-link-{self.port}.yaml"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "-c",
            str(self.config_path),
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root)}

    def start(self, timeout: float = 90) -> System:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": self.port, "workers": self.workers, "log_level": "info"},
            "providers": {
                "up": {"type": "openai", "base_url": self.upstream + "/v1", "api_key": "sk-bench-upstream"},
                # the same mock as an Anthropic upstream: Anthropic clients on it take the same-API lane
                "ant": {"type": "anthropic", "base_url": self.upstream, "api_key": "sk-bench-upstream"},
            },
            "models": {"bench": "up/bench", "slow": "up/slow", "claude-bench": "ant/claude-bench"},
        }
        if not self.passthrough:
            config["providers"]["up"]["passthrough"] = False
        if self.telemetry is not None:
            config["telemetry"] = self.telemetry
        self.config_path.write_text(yaml.safe_dump(config))
        return super().start(timeout)

    def ready_path(self) -> str:
        return "/ready"

    def route(self, dialect: str) -> Route | None:
        path = {
            "openai": "/v1/chat/completions",
            "responses": "/v1/responses",
            "anthropic": "/anthropic/v1/messages",
            "anthropic-native": "/anthropic/v1/messages",
            "ollama": "/ollama/api/chat",
        }
        return Route(path[dialect], DIALECT_HEADERS[dialect.removesuffix("-native")])
