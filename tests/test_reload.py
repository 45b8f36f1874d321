"""Hot reload of a running two-worker gateway: SIGHUP, the admin API and a Kubernetes-style
ConfigMap swap picked up by `server.watch_config`; streams in flight finish on the config they started
with while new requests get the new one, under load and without a failed request; an invalid file keeps
the old config, says why, and counts as a failure."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import yaml

from tests.harness import Gateway

ADMIN = "admin-key-0123456789abcdef"
MSG = [{"role": "user", "content": "hello"}]


def config(reply: str, extra_models: dict[str, str] | None = None, **server: Any) -> dict[str, Any]:
    # Streams take 8 x 0.5 s: long enough to be in flight across a reload.
    return {
        "server": {"graceful_timeout": 10, **server},
        "providers": {"mock": {"type": "mock", "options": {"reply": reply, "chunks": 8, "chunk_delay": 0.5}}},
        "models": {"demo": "mock/demo", **(extra_models or {})},
        "admin": {"key": ADMIN},
    }


HTTP = httpx.Client(timeout=10)
# A new connection per request: Sanic hands each connection to one worker, and `everywhere` must ask both.
FRESH = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


def reply(gw: Gateway, model: str = "demo") -> tuple[int, str]:
    r = FRESH.post(gw.url + "/v1/chat/completions", json={"model": model, "messages": MSG})
    return r.status_code, r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.text


def everywhere(gw: Gateway, expected: str, model: str = "demo", wait: float = 10.0) -> bool:
    """Every worker answers `expected` (10 answers in a row), within `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if all(reply(gw, model) == (200, expected) for _ in range(10)):
            return True
        time.sleep(0.2)
    return False


def reloads(gw: Gateway) -> dict[str, float]:
    text = HTTP.get(gw.url + "/metrics").text
    return {m[0]: float(m[1]) for m in re.findall(r'llm_link_config_reloads_total\{result="(\w+)"\} ([\d.]+)', text)}


def write(path: Path, cfg: dict[str, Any] | str) -> None:
    """Replace the file in one step (write a sibling, rename), as editors and config tools do."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg))
    os.replace(tmp, path)


def test_sighup_reloads_every_worker_and_streams_in_flight_finish_on_the_old_config() -> None:
    with Gateway(config("old answer"), workers=2) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="none", max_retries=0)
        streamed: list[str] = []
        started = threading.Barrier(5)
        errors: list[BaseException] = []

        def stream() -> None:
            try:
                chunks = client.chat.completions.create(model="demo", messages=MSG, stream=True)
                parts = []
                for i, chunk in enumerate(chunks):
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
                    if i == 1:
                        started.wait(10)
                streamed.append("".join(parts))
            except BaseException as err:
                errors.append(err)

        # Load beside the streams: plain requests that must all succeed through the reload.
        stop = threading.Event()
        statuses: list[int] = []

        def load() -> None:
            for _ in range(300):
                if stop.is_set():
                    break
                statuses.append(reply(gw)[0])

        threads = [threading.Thread(target=stream) for _ in range(4)]
        loader = threading.Thread(target=load)
        for t in threads:
            t.start()
        loader.start()
        started.wait(10)  # four streams are under way
        write(gw.config_path, config("new answer", {"added": "mock/added"}))
        assert gw.proc is not None
        os.kill(gw.proc.pid, signal.SIGHUP)
        assert everywhere(gw, "new answer")
        assert reply(gw, "added") == (200, "new answer")
        for t in threads:
            t.join(20)
        stop.set()
        loader.join(20)
        assert not errors
        assert streamed == ["old answer"] * 4  # begun on the old config, finished on it
        assert statuses and set(statuses) == {200}
        assert reloads(gw) == {"success": 1.0, "failure": 0.0}
        assert "config reloaded" in gw.log()


def test_invalid_file_keeps_the_running_config_and_says_why() -> None:
    with Gateway(config("steady"), workers=2) as gw:
        write(
            gw.config_path,
            "providers:\n  mock: {type: mock}\nmodels:\n  demo: nowhere/demo\nadmin: {key: " + ADMIN + "}\n",
        )
        assert gw.proc is not None
        os.kill(gw.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and reloads(gw).get("failure") != 1.0:
            time.sleep(0.1)
        assert reloads(gw) == {"failure": 1.0, "success": 0.0}
        assert "models.demo.provider: unknown provider 'nowhere'" in gw.log()
        assert everywhere(gw, "steady", wait=2)

        r = HTTP.post(gw.url + "/admin/api/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["type"] == "invalid_config"
        assert err["problems"] == ["models.demo.provider: unknown provider 'nowhere'"]
        assert reply(gw) == (200, "steady")

        write(gw.config_path, "providers: [not, a, mapping\n")  # not even YAML
        r = HTTP.post(gw.url + "/admin/api/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 422 and "invalid YAML" in r.json()["error"]["problems"][0]

        write(gw.config_path, config("fixed"))
        r = HTTP.post(gw.url + "/admin/api/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200 and r.json()["status"] == "reloaded"
        assert everywhere(gw, "fixed", wait=3)  # the other worker follows within a second
        assert reloads(gw) == {"failure": 3.0, "success": 1.0}


def test_watch_config_follows_a_configmap_symlink_swap() -> None:
    gw = Gateway(config("first", watch_config=True), workers=2)
    # The layout Kubernetes mounts a ConfigMap as: the file is a symlink through `..data`, and an update
    # swaps `..data` to a new timestamped directory in one rename.
    mount = Path(gw.dir) / "mount"
    mount.mkdir()
    (mount / "..v1").mkdir()
    (mount / "..v1" / "llm-link.yaml").write_text(gw.config_path.read_text())
    os.symlink("..v1", mount / "..data")
    os.symlink("..data/llm-link.yaml", mount / "llm-link.yaml")
    gw.config_path = mount / "llm-link.yaml"
    with gw:
        assert reply(gw) == (200, "first")
        (mount / "..v2").mkdir()
        (mount / "..v2" / "llm-link.yaml").write_text(yaml.safe_dump(config("second", watch_config=True)))
        os.symlink("..v2", mount / "..data_tmp")
        os.replace(mount / "..data_tmp", mount / "..data")
        (mount / "..v1" / "llm-link.yaml").unlink()
        (mount / "..v1").rmdir()
        assert everywhere(gw, "second")
        assert reloads(gw) == {"success": 1.0, "failure": 0.0}
