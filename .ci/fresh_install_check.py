"""Drives a freshly installed `llm-link` with the standard library only (see fresh-install.sh)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# (dialect, path, body) — one chat request per dialect; each is sent once plain and once streaming.
REQUESTS: list[tuple[str, str, dict[str, object]]] = [
    ("openai", "/v1/chat/completions", {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}),
    (
        "anthropic",
        "/anthropic/v1/messages",
        {"model": "demo", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("ollama", "/ollama/api/chat", {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}),
    ("responses", "/v1/responses", {"model": "demo", "input": "hi"}),
    ("gemini", "/gemini/v1beta/models/demo:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}),
]
STREAM_PATHS = {
    "/gemini/v1beta/models/demo:generateContent": "/gemini/v1beta/models/demo:streamGenerateContent?alt=sse"
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: dict[str, object]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main() -> int:
    exe, configs = sys.argv[1], Path(sys.argv[2])
    required = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
    for path in sorted(configs.glob("*.yaml")):
        env = {**os.environ, **{n: "dummy" for n in required.findall(path.read_text())}}
        r = subprocess.run([exe, "check", "-c", str(path)], capture_output=True, text=True, env=env, timeout=60)
        if r.returncode != 0:
            print(f"llm-link check {path.name} failed:\n{r.stdout}{r.stderr}")
            return 1
        print(f"check {path.name}: ok")

    port = free_port()
    log = open("serve.log", "wb")
    proc = subprocess.Popen(
        [exe, "serve", "-c", str(configs / "demo.yaml"), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                print("serve exited:\n" + Path("serve.log").read_text())
                return 1
            try:
                with urllib.request.urlopen(base + "/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print("serve never became ready:\n" + Path("serve.log").read_text())
                return 1
            time.sleep(0.2)
        for dialect, path, body in REQUESTS:
            for stream in (False, True):
                url = base + (STREAM_PATHS.get(path, path) if stream else path)
                sent = body if dialect == "gemini" else {**body, "stream": stream}
                status, data = post(url, sent)
                if status != 200 or not data:
                    print(f"{dialect} stream={stream}: HTTP {status}: {data[:500]!r}")
                    return 1
                print(f"{dialect} stream={stream}: {status}, {len(data)} bytes")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            print("serve did not stop on SIGTERM")
            return 1
    if code != 0:
        print(f"serve exited with {code} on SIGTERM:\n" + Path("serve.log").read_text())
        return 1
    print("fresh install: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
