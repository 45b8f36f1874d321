"""The command line and the config file, as a user meets them: check, errors with paths, precedence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import Gateway


def run(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_LINK_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60
    )


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "llm-link.yaml"
    path.write_text(text)
    return str(path)


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("llm-link ")


def test_check_demo_config() -> None:
    r = run("check", "-c", str(Path(__file__).parent.parent / "configs" / "demo.yaml"))
    assert r.returncode == 0, r.stderr
    assert "demo -> mock/demo" in r.stdout


def test_bad_config_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
server: {port: "eighty", colour: blue}
providers:
  oai: {type: openai, base_url: 5}
  weird: {type: telepathy}
models:
  a: nowhere/model
  b: {provider: oai}
  c: {targets: [{provider: oai, model: x, weight: 0}], fallbacks: [zzz]}
surprise: 1
""",
    )
    r = run("check", "-c", path)
    assert r.returncode == 1
    err = r.stderr
    assert "Traceback" not in err
    for expected in (
        "server.colour",
        "providers.oai.base_url",
        "providers.weird.type",
        "models.a.provider",
        "models.b",
        "models.c.targets[0].weight",
        "models.c.fallbacks",
        "surprise: unknown key",
    ):
        assert expected in err, expected


def test_serve_with_bad_config_exits_1_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "providers: {x: {type: nope}}\n")
    r = run("serve", "-c", path)
    assert r.returncode == 1 and "providers.x.type" in r.stderr and "Traceback" not in r.stderr


def test_unset_variable_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  oai: {type: openai, api_key: '${NOT_SET_ANYWHERE_42}'}\n")
    r = run("check", "-c", path)
    assert r.returncode == 1 and "NOT_SET_ANYWHERE_42" in r.stderr and "providers.oai.api_key" in r.stderr


def test_variable_default_and_expansion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
providers:
  oai: {type: openai, base_url: '${MY_BASE:-http://127.0.0.1:1/v1}', api_key: '${MY_KEY}'}
models: {m: oai/x}
""",
    )
    r = run("check", "-c", path, env={"MY_KEY": "sk-secret-value"})
    assert r.returncode == 0, r.stderr
    assert "http://127.0.0.1:1/v1" in r.stdout
    assert "sk-secret-value" not in r.stdout  # check never prints keys


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "providers: [unclosed\n")
    r = run("check", "-c", path)
    assert r.returncode == 1 and "invalid YAML" in r.stderr


def test_missing_file() -> None:
    r = run("check", "-c", "/nonexistent/llm-link.yaml")
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_config_lookup_env_then_local_then_builtin(tmp_path: Path) -> None:
    (tmp_path / "llm-link.yaml").write_text("providers: {m: {type: mock}}\nmodels: {local-model: m/x}\n")
    other = tmp_path / "other.yaml"
    other.write_text("providers: {m: {type: mock}}\nmodels: {env-model: m/x}\n")
    assert "local-model" in run("check", cwd=str(tmp_path)).stdout
    assert "env-model" in run("check", cwd=str(tmp_path), env={"LLM_LINK_CONFIG": str(other)}).stdout
    builtin = run("check", cwd="/", env={"OPENAI_API_KEY": "sk-x"})
    assert "built-in default" in builtin.stdout
    assert "demo -> mock/demo" in builtin.stdout and "openai: openai" in builtin.stdout
    assert "ollama: ollama" in builtin.stdout


def test_seed_llm_backend_form(tmp_path: Path) -> None:
    path = write(tmp_path, "llm_backend: {type: mock, model: tiny}\n")
    r = run("check", "-c", path)
    assert r.returncode == 0, r.stderr
    assert "tiny -> mock/tiny" in r.stdout and "default_model: tiny" in r.stdout


def test_precedence_cli_over_env_over_file(tmp_path: Path) -> None:
    """The seed's invocation `llm-link -c FILE --host H --port P` works, and flags beat the environment."""
    cfg = {"server": {"port": 1}, "providers": {"m": {"type": "mock"}}, "models": {"demo": "m/demo"}}
    gw = Gateway(cfg, env={"LLM_LINK_PORT": "2", "LLM_LINK_HOST": "0.0.0.0"})
    # Gateway passes --port itself: the flag must win over LLM_LINK_PORT and the file.
    with gw:
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "demo", "messages": [{"role": "user", "content": "precedence"}]},
        )
        assert r.json()["choices"][0]["message"]["content"] == "You said: precedence"


def test_env_port_over_file(tmp_path: Path) -> None:
    from tests.fakes.server import free_port

    port = free_port()
    path = write(
        tmp_path,
        yaml.safe_dump({"server": {"port": 1}, "providers": {"m": {"type": "mock"}}, "models": {"demo": "m/demo"}}),
    )
    env = {**os.environ, "LLM_LINK_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "-c", path],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        import time

        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


@pytest.fixture(scope="module")
def two_workers() -> Gateway:
    gw = Gateway({"providers": {"m": {"type": "mock"}}, "models": {"demo": "m/demo"}}, workers=2)
    gw.start()
    yield gw
    assert gw.stop() == 0  # SIGTERM drains both workers and exits cleanly


def test_two_workers_metrics_count_every_request(two_workers: Gateway) -> None:
    n = 40
    for i in range(n):
        # A fresh connection per request lets the kernel spread them over both workers.
        with httpx.Client() as c:
            c.post(
                two_workers.url + "/v1/chat/completions",
                json={"model": "demo", "messages": [{"role": "user", "content": str(i)}]},
            )
    # Every scrape, whichever worker answers it, shows all workers' counts.
    for _ in range(6):
        with httpx.Client() as c:
            text = c.get(two_workers.url + "/metrics").text
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith('llm_link_requests_total{dialect="openai",model="demo",provider="m",status="200"}')
        )
        assert float(line.split()[-1]) == n
        assert 'llm_link_in_flight_requests{dialect="openai"} 0.0' in text


def test_two_gateways_keep_separate_metrics() -> None:
    cfg = {"providers": {"m": {"type": "mock"}}, "models": {"demo": "m/demo"}}
    with Gateway(cfg) as a, Gateway(cfg) as b:
        for _ in range(3):
            httpx.post(
                a.url + "/v1/chat/completions", json={"model": "demo", "messages": [{"role": "user", "content": "x"}]}
            )
        httpx.post(
            b.url + "/v1/chat/completions", json={"model": "demo", "messages": [{"role": "user", "content": "x"}]}
        )
        line_a = [
            ln for ln in httpx.get(a.url + "/metrics").text.splitlines() if ln.startswith("llm_link_requests_total{")
        ]
        line_b = [
            ln for ln in httpx.get(b.url + "/metrics").text.splitlines() if ln.startswith("llm_link_requests_total{")
        ]
        assert line_a[0].endswith(" 3.0") and line_b[0].endswith(" 1.0")
