"""Two gateway processes (replicas) on one database, SQLite and a real PostgreSQL server: a key made on
one works on the other within 2 s, a revocation on one is a 401 on the other within 2 s, the keys CLI
talks to the same database, and after SIGTERM every request has its usage row."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
import yaml

from gateway.store import open_store
from tests.harness import ROOT, Gateway

ADMIN = "admin-key-0123456789abcdef"
MSG = [{"role": "user", "content": "hi"}]
HTTP = httpx.Client(timeout=10)
# A new connection per request: Sanic hands each connection to one worker, and the checks below must
# reach every worker.
FRESH = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='llm-link-replicas-')}/shared.db"
    pg: Any = request.getfixturevalue("pg_server")
    return str(pg.new_database())


def config(url: str) -> dict[str, Any]:
    return {
        "providers": {"mock": {"type": "mock", "options": {"chunks": 3}}},
        "models": {"demo": "mock/demo", "counted": "mock/counted"},
        "state": {"database_url": url},
        "admin": {"key": ADMIN},
    }


def status(gw: Gateway, key: str) -> int:
    r = FRESH.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "demo", "messages": MSG},
    )
    return r.status_code


def within_2s(check: Callable[[], bool], sweep: int = 4) -> bool:
    """The promise that a key change reaches every worker within 2 s, checked right after it: 2 s later, `check` holds on `sweep` requests
    on fresh connections (each may land on any worker)."""
    time.sleep(2.0)
    return all(check() for _ in range(sweep))


def cli(config_path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", *args, "-c", config_path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def usage_by_model(url: str) -> dict[str, int]:
    async def read() -> dict[str, int]:
        store = open_store(url)
        await store.open()
        try:
            return {r["model"]: r["requests"] for r in await store.usage_summary(None, None, ["model"])}
        finally:
            await store.close()

    return asyncio.run(read())


def test_two_replicas_share_keys_and_write_every_usage_row(database_url: str) -> None:
    a = Gateway(config(database_url)).start()
    b = Gateway(config(database_url))
    try:
        b.start()
        # Keys are checked from the moment the database holds one: an unknown key is a 401 everywhere.
        made = HTTP.post(
            a.url + "/admin/api/keys", headers={"Authorization": f"Bearer {ADMIN}"}, json={"name": "shared"}
        )
        assert made.status_code == 201
        secret = made.json()["key"]
        assert within_2s(lambda: status(b, "llk_not-a-key") == 401)
        assert status(a, "llk_not-a-key") == 401 and status(b, secret) == 200

        # The CLI writes to the same database; both replicas see it.
        created = cli(str(b.config_path), "create", "--name", "from-cli", "--models", "demo")
        assert created.returncode == 0, created.stderr
        cli_secret = created.stdout.strip()
        assert cli_secret.startswith("llk_") and len(cli_secret.splitlines()) == 1
        assert within_2s(lambda: status(a, cli_secret) == 200 and status(b, cli_secret) == 200)
        listed = cli(str(a.config_path), "list")
        assert listed.returncode == 0 and "from-cli" in listed.stdout and "shared" in listed.stdout
        assert cli_secret not in listed.stdout + listed.stderr and secret not in listed.stdout

        revoked = HTTP.delete(b.url + "/admin/api/keys/shared", headers={"Authorization": f"Bearer {ADMIN}"})
        assert revoked.status_code == 200
        assert within_2s(lambda: status(a, secret) == 401)
        assert cli(str(a.config_path), "revoke", "from-cli").returncode == 0
        assert within_2s(lambda: status(a, cli_secret) == 401 and status(b, cli_secret) == 401)

        # Usage: a burst split over both replicas, streams and not, then SIGTERM at once.
        key = HTTP.post(
            a.url + "/admin/api/keys", headers={"Authorization": f"Bearer {ADMIN}"}, json={"name": "meter"}
        ).json()["key"]
        assert within_2s(lambda: status(b, key) == 200)
        sent = 0
        for gw in (a, b):
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
            for i in range(12):
                if i % 3 == 0:
                    assert "".join(
                        c.choices[0].delta.content or ""
                        for c in client.chat.completions.create(model="counted", messages=MSG, stream=True)
                        if c.choices
                    )
                else:
                    assert client.chat.completions.create(model="counted", messages=MSG).choices[0].message.content
                sent += 1
    finally:
        codes = [a.stop(), b.stop()]
    assert usage_by_model(database_url).get("counted") == sent
    for name, gateway, code in (("a", a, codes[0]), ("b", b, codes[1])):
        assert code == 0, f"replica {name} exited {code} on SIGTERM; log tail:\n{gateway.log()[-4000:]}"


def test_keys_cli_without_a_database_says_what_to_set(tmp_path: Any) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump({"providers": {"mock": {"type": "mock"}}, "models": {"demo": "mock/demo"}}))
    r = cli(str(path), "list")
    assert r.returncode == 1 and "state.database_url" in r.stderr and "Traceback" not in r.stderr


def test_keys_cli_refuses_config_keys_and_unknown_names(tmp_path: Any) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "providers": {"mock": {"type": "mock"}},
                "models": {"demo": "mock/demo"},
                "auth": {"keys": [{"name": "yaml-team", "key": "sk-yaml-0123456789"}]},
                "state": {"database_url": f"sqlite:///{tmp_path}/k.db"},
            }
        )
    )
    r = cli(str(path), "rotate", "yaml-team")
    assert r.returncode == 1 and "defined in" in r.stderr
    r = cli(str(path), "revoke", "nobody")
    assert r.returncode == 1 and "nobody" in r.stderr and "Traceback" not in r.stderr
    r = cli(str(path), "create", "--name", "k", "--rpm", "0")
    assert r.returncode != 0 and "rpm" in r.stderr
    made = cli(str(path), "create", "--name", "k", "--rpm", "5", "--budget-usd", "2.5", "--period", "day", "--json")
    assert made.returncode == 0
    body = yaml.safe_load(made.stdout)
    assert body["rpm"] == 5 and body["budget"] == {"usd": 2.5, "period": "day"} and body["key"].startswith("llk_")
    rotated = cli(str(path), "rotate", "k")
    assert rotated.returncode == 0 and rotated.stdout.strip() != body["key"]
    updated = cli(str(path), "update", "k", "--rpm", "none", "--models", "demo", "gpt-*", "--json")
    assert updated.returncode == 0
    assert yaml.safe_load(updated.stdout)["rpm"] is None and yaml.safe_load(updated.stdout)["models"] == [
        "demo",
        "gpt-*",
    ]


def test_a_database_outage_keeps_keys_working_and_loses_no_usage_row(pg_server: Any) -> None:
    from tests.postgres_server import PostgresServer

    pg = PostgresServer().start()  # its own server: this test stops it
    url = pg.new_database()
    gw = Gateway(config(url)).start()
    try:
        made = HTTP.post(
            gw.url + "/admin/api/keys", headers={"Authorization": f"Bearer {ADMIN}"}, json={"name": "steady"}
        )
        key = made.json()["key"]
        assert within_2s(lambda: status(gw, key) == 200)
        pg.halt()
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
        for _ in range(5):  # the key is known from the worker's cache; the rows wait in memory
            assert client.chat.completions.create(model="counted", messages=MSG).choices[0].message.content
        r = HTTP.get(gw.url + "/admin/api/keys", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 503 and r.json()["error"]["type"] == "database_error"
        assert "password" not in r.text and url not in r.text
        pg.launch()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and usage_by_model(url).get("counted") != 5:
            time.sleep(0.5)
        assert usage_by_model(url).get("counted") == 5
        assert status(gw, key) == 200
    finally:
        gw.stop()
        pg.stop()
