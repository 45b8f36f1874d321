"""Start the real gateway (`llm-link serve`) as a user would, on a free loopback port, with a config file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Gateway:
    def __init__(
        self,
        config: dict[str, Any] | str,
        workers: int = 1,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="llm-link-test-")
        self.config_path = Path(self.dir) / "llm-link.yaml"
        self.config_path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
        self.log_path = Path(self.dir) / "gateway.log"
        self.workers = workers
        # The gateway under test is this checkout's code, whichever copy pip installed.
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Gateway:
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
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
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.dir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    if self.workers == 1 or self._all_workers_up():
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not become ready:\n{self.log()}")

    def _all_workers_up(self) -> bool:
        return self.log().count("Worker ready") >= self.workers

    def log(self) -> str:
        """Everything the gateway printed so far. The access log batches lines for up to 10 ms under
        load, so wait a little longer than that first."""
        time.sleep(0.03)
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM to the main process only, as Docker and Kubernetes send it; the exit code is returned
        (0 after a clean drain). Anything still alive after 15 s is killed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode if self.proc is not None else None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
