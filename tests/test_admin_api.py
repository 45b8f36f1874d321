"""The admin API over HTTP, on a two-worker gateway with an SQLite database: keys made, changed,
rotated and revoked there work (or stop working) in every worker within 2 s, with the official SDKs;
YAML keys are read-only; usage sums match the requests sent; no answer holds a secret."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.harness import Gateway

ADMIN = "admin-key-0123456789abcdef"
YAML_KEY = "sk-yaml-0123456789"
UPSTREAM_SECRET = "sk-upstream-secret-42"
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    db = tempfile.mkdtemp(prefix="llm-link-admin-")
    config = {
        "providers": {
            "mock": {"type": "mock"},
            "other": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": UPSTREAM_SECRET},
        },
        "models": {"demo": "mock/demo", "demo-2": "mock/demo-2", "far": "other/far"},
        "auth": {"keys": [{"name": "yaml-team", "key": YAML_KEY}]},
        "state": {"database_url": f"sqlite:///{db}/llm-link.db"},
        "admin": {"key": ADMIN},
    }
    with Gateway(config, workers=2) as g:
        yield g


HTTP = httpx.Client(timeout=10)
# A new connection per request: Sanic hands each connection to one worker, and the checks below must
# reach every worker.
FRESH = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


def admin(gw: Gateway, method: str, path: str, key: str | None = ADMIN, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return HTTP.request(method, gw.url + "/admin/api" + path, headers=headers, **kw)


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def status_of(gw: Gateway, key: str, model: str = "demo") -> int:
    r = FRESH.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": MSG},
        timeout=10,
    )
    return r.status_code


def within_2s(check: Callable[[], bool], sweep: int = 8) -> bool:
    """The promise that a key change reaches every worker within 2 s, checked right after it: 2 s later, `check` holds on `sweep` requests
    on fresh connections (each may land on any worker)."""
    time.sleep(2.0)
    return all(check() for _ in range(sweep))


def test_admin_key_is_required(gw: Gateway) -> None:
    r = admin(gw, "GET", "/keys", key=None)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = admin(gw, "GET", "/keys", key=YAML_KEY)  # a gateway key is not the admin key
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"


def test_created_key_works_in_every_worker_and_is_shown_once(gw: Gateway) -> None:
    r = admin(gw, "POST", "/keys", json={"name": "app-1", "models": ["demo*"], "rpm": 1000})
    assert r.status_code == 201, r.text
    body = r.json()
    secret = body["key"]
    assert body["name"] == "app-1" and body["models"] == ["demo*"] and body["rpm"] == 1000
    assert within_2s(lambda: status_of(gw, secret) == 200)
    reply = client(gw, secret).chat.completions.create(model="demo", messages=MSG)
    assert reply.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):
        client(gw, secret).chat.completions.create(model="far", messages=MSG)  # not in its models

    listing = admin(gw, "GET", "/keys")
    assert listing.status_code == 200
    names = {k["name"]: k for k in listing.json()["data"]}
    assert names["app-1"]["source"] == "database" and names["yaml-team"]["source"] == "config"
    assert secret not in listing.text and secret[8:] not in listing.text
    assert "key" not in names["app-1"] and "key_sha256" not in listing.text
    one = admin(gw, "GET", "/keys/app-1")
    assert one.status_code == 200 and secret not in one.text


def test_duplicate_and_yaml_names_conflict(gw: Gateway) -> None:
    assert admin(gw, "POST", "/keys", json={"name": "dup"}).status_code == 201
    r = admin(gw, "POST", "/keys", json={"name": "dup"})
    assert r.status_code == 409 and r.json()["error"]["type"] == "conflict"
    assert admin(gw, "POST", "/keys", json={"name": "yaml-team"}).status_code == 409
    for method, path in (
        ("PATCH", "/keys/yaml-team"),
        ("DELETE", "/keys/yaml-team"),
        ("POST", "/keys/yaml-team/rotate"),
    ):
        r = admin(gw, method, path, json={"rpm": 5} if method == "PATCH" else None)
        assert r.status_code == 409, (method, r.text)
        assert "config file" in r.json()["error"]["message"]
    assert status_of(gw, YAML_KEY) == 200  # and the YAML key still works


def test_bad_requests_get_one_error_shape(gw: Gateway) -> None:
    for body in ({"name": "x", "rpm": 0}, {"name": "bad name!"}, {"name": "x", "colour": "red"}, {"rpm": 3}):
        r = admin(gw, "POST", "/keys", json=body)
        assert r.status_code == 400, body
        err = r.json()["error"]
        assert err["type"] == "invalid_request" and err["message"]
    r = admin(gw, "POST", "/keys", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request"
    r = admin(gw, "PATCH", "/keys/nobody", json={"rpm": 3})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    r = admin(gw, "GET", "/usage?group_by=colour")
    assert r.status_code == 400 and "group_by" in r.json()["error"]["message"]


def test_update_reaches_every_worker(gw: Gateway) -> None:
    secret = admin(gw, "POST", "/keys", json={"name": "narrow", "models": ["demo"]}).json()["key"]
    assert within_2s(lambda: status_of(gw, secret, "demo") == 200)
    assert status_of(gw, secret, "demo-2") == 403
    r = admin(gw, "PATCH", "/keys/narrow", json={"models": ["demo", "demo-2"]})
    assert r.status_code == 200 and r.json()["models"] == ["demo", "demo-2"]
    assert within_2s(lambda: status_of(gw, secret, "demo-2") == 200)


def test_limits_set_over_the_api_apply(gw: Gateway) -> None:
    secret = admin(gw, "POST", "/keys", json={"name": "limited", "rpm": 2}).json()["key"]
    assert within_2s(lambda: status_of(gw, secret) != 401)
    statuses = [status_of(gw, secret) for _ in range(4)]
    assert statuses.count(429) >= 1  # two workers share the limit table


def test_rotate_and_revoke_take_effect_within_2s(gw: Gateway) -> None:
    old = admin(gw, "POST", "/keys", json={"name": "rotating"}).json()["key"]
    assert within_2s(lambda: status_of(gw, old) == 200)
    r = admin(gw, "POST", "/keys/rotating/rotate")
    assert r.status_code == 200
    new = r.json()["key"]
    assert new != old
    assert within_2s(lambda: status_of(gw, old) == 401 and status_of(gw, new) == 200)

    r = admin(gw, "DELETE", "/keys/rotating")
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert within_2s(lambda: status_of(gw, new) == 401)
    log = gw.log()
    assert "key 'rotating' rotated" in log and "key 'rotating' revoked" in log  # an audit trail
    assert old not in log and new not in log
    with pytest.raises(openai.AuthenticationError):
        client(gw, new).chat.completions.create(model="demo", messages=MSG)


def test_expired_key_is_refused(gw: Gateway) -> None:
    secret = admin(gw, "POST", "/keys", json={"name": "short-lived", "expires_at": time.time() + 1.0}).json()["key"]
    time.sleep(1.1)
    r = FRESH.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "demo", "messages": MSG},
    )
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_usage_sums_match_the_requests_sent(gw: Gateway) -> None:
    secret = admin(gw, "POST", "/keys", json={"name": "metered"}).json()["key"]
    assert within_2s(lambda: status_of(gw, secret, "demo-2") == 200)  # some of these count too
    time.sleep(1.5)  # every worker has written the rows of those
    before = _metered(gw)
    c = client(gw, secret)
    for _ in range(5):
        c.chat.completions.create(model="demo-2", messages=MSG)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _metered(gw)["requests"] < before["requests"] + 5:
        time.sleep(0.2)  # the other worker writes its rows within a second
    after = _metered(gw)
    assert after["requests"] == before["requests"] + 5
    assert after["input_tokens"] > before["input_tokens"] and after["output_tokens"] > before["output_tokens"]
    r = admin(
        gw, "GET", "/usage", params={"group_by": "key,model,provider,day", "from": "2020-01-01", "to": time.time() + 60}
    )
    row = next(x for x in r.json()["data"] if x["key"] == "metered")
    assert row["provider"] == "mock" and row["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert admin(gw, "GET", "/usage", params={"to": "2020-01-01"}).json()["data"] == []


def _metered(gw: Gateway) -> dict[str, Any]:
    r = admin(gw, "GET", "/usage", params={"group_by": "key,model"})
    assert r.status_code == 200
    rows = [x for x in r.json()["data"] if x["key"] == "metered" and x["model"] == "demo-2"]
    return rows[0] if rows else {"requests": 0, "input_tokens": 0, "output_tokens": 0}


def test_config_and_providers_hide_secrets(gw: Gateway) -> None:
    r = admin(gw, "GET", "/config")
    assert r.status_code == 200
    assert UPSTREAM_SECRET not in r.text and ADMIN not in r.text and YAML_KEY not in r.text
    assert r.json()["providers"]["other"]["api_key"] == "***"
    r = admin(gw, "GET", "/providers")
    assert r.status_code == 200 and UPSTREAM_SECRET not in r.text
    providers = {p["name"]: p for p in r.json()["data"]}
    assert providers["mock"]["type"] == "mock"
    assert {t["target"] for t in providers["mock"]["targets"]} >= {"mock/demo"}
    assert all(t["circuit"] in ("closed", "open", "half_open") for t in providers["mock"]["targets"])


def test_openapi_document_describes_every_route(gw: Gateway) -> None:
    r = admin(gw, "GET", "/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    for path in (
        "/admin/api/keys",
        "/admin/api/keys/{name}",
        "/admin/api/keys/{name}/rotate",
        "/admin/api/usage",
        "/admin/api/providers",
        "/admin/api/config",
        "/admin/api/reload",
    ):
        assert path in doc["paths"], path
    assert set(doc["paths"]["/admin/api/keys/{name}"]) >= {"patch", "delete"}
