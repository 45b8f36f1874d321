"""Golden table for the Responses dialect: each file in tests/golden/responses/ holds a Responses request, a
recorded upstream answer (exact bytes, JSON or SSE, from a Chat Completions or an Anthropic upstream), the
exact body the gateway must send upstream (`sent`) and the exact client-visible result (`response`: the
response object, or the list of SSE events). Only values minted per request are normalised (response and
item ids keep their prefix and item index; timestamps become 0); any other change fails the case.

After a deliberate change of behaviour, regenerate with `LLM_LINK_GOLDEN_UPDATE=1 pytest
tests/test_responses_golden.py` and review the diff of the JSON files."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.fakes.server import ThreadedServer
from tests.harness import Gateway
from tests.responses_sse import check, parse

GOLDEN = Path(__file__).parent / "golden" / "responses"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))
UPDATE = os.environ.get("LLM_LINK_GOLDEN_UPDATE") == "1"
KEY = "sk-golden-upstream"
_ID = re.compile(r"^(resp|msg|rs|fc|ctc)_[0-9a-f]{24}([0-9a-f]*)$")


class Replay:
    """Answers every request with the recording of the case named by the request's model."""

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, Any]] = {}
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.answer)
        self.app.router.add_post("/v1/messages", self.answer)

    async def answer(self, request: web.Request) -> web.Response:
        body = await request.json()
        case = json.loads((GOLDEN / f"{body['model']}.json").read_text())
        self.sent[body["model"]] = body
        up = case["upstream"]
        return web.Response(body=up["body"].encode(), status=up.get("status", 200), content_type=up["content_type"])


@pytest.fixture(scope="module")
def replay() -> Iterator[Replay]:
    fake = Replay()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    server.stop()


@pytest.fixture(scope="module")
def gw(replay: Replay) -> Iterator[Gateway]:
    url = replay.url  # type: ignore[attr-defined]
    config = {
        "providers": {
            "openai": {"type": "openai", "base_url": url + "/v1", "api_key": KEY},
            "anthropic": {"type": "anthropic", "base_url": url, "api_key": KEY},
        }
    }
    with Gateway(config) as g:
        yield g


def _normalise(data: Any) -> Any:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k in ("created_at", "completed_at") and isinstance(v, int):
                v = 0
            out[k] = _normalise(v)
        return out
    if isinstance(data, list):
        return [_normalise(v) for v in data]
    if isinstance(data, str):
        m = _ID.match(data)
        if m:
            return f"{m.group(1)}_<id>{m.group(2) if m.group(1) != 'resp' else ''}"
    return data


def _client_result(gw: Gateway, case: dict[str, Any], name: str) -> tuple[int, Any]:
    request = {**case["request"], "model": f"{case['provider']}/{name}"}
    r = httpx.post(gw.url + "/v1/responses", json=request, timeout=10)
    if not request.get("stream"):
        return r.status_code, _normalise(r.json())
    events = parse(r.text)
    check(events)
    return r.status_code, _normalise(events)


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, gw: Gateway, replay: Replay) -> None:
    path = GOLDEN / f"{name}.json"
    case = json.loads(path.read_text())
    status, result = _client_result(gw, case, name)
    sent = replay.sent[name]
    if UPDATE:
        case["sent"] = sent
        case["response"] = {"status": status, "body": result}
        path.write_text(json.dumps(case, indent=1, ensure_ascii=False) + "\n")
        return
    assert sent == case["sent"], "the request sent upstream changed"
    assert {"status": status, "body": result} == case["response"], "the client-visible result changed"
