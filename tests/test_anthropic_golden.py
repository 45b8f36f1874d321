"""Golden table for the OpenAI <-> Anthropic translation: each file in tests/golden/anthropic/ holds a client
request, a recorded upstream answer (exact bytes, JSON or SSE), the exact body the gateway must send
upstream (`sent`) and the exact client-visible result (`response`: a JSON body, or the list of SSE events).
Only values minted per request (message / completion ids, `created`) are normalised; any other change in any
field fails the case.

After a deliberate change of behaviour, regenerate with `LLM_LINK_GOLDEN_UPDATE=1 pytest
tests/test_anthropic_golden.py` and review the diff of the JSON files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

GOLDEN = Path(__file__).parent / "golden" / "anthropic"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))
UPDATE = os.environ.get("LLM_LINK_GOLDEN_UPDATE") == "1"
KEY = "sk-golden-upstream"


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
        return web.Response(
            body=up["body"].encode(), status=up.get("status", 200), headers={"Content-Type": up["content_type"]}
        )


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
            # These goldens freeze the translation; same-API forwarding has its own tests (test_passthrough.py).
            "anthropic": {"type": "anthropic", "base_url": url, "api_key": KEY, "passthrough": False},
        }
    }
    with Gateway(config) as g:
        yield g


def _normalise_json(data: Any) -> Any:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k == "id" and isinstance(v, str) and v.startswith(("msg_", "chatcmpl-")):
                v = "<id>"
            elif k == "created" and isinstance(v, int):
                v = 0
            out[k] = _normalise_json(v)
        return out
    if isinstance(data, list):
        return [_normalise_json(v) for v in data]
    return data


def _client_result(gw: Gateway, case: dict[str, Any], name: str) -> tuple[int, Any]:
    request = {**case["request"], "model": f"{case['provider']}/{name}"}
    path = "/anthropic/v1/messages" if case["client"] == "anthropic" else "/v1/chat/completions"
    r = httpx.post(gw.url + path, json=request, timeout=10)
    if not request.get("stream"):
        return r.status_code, _normalise_json(r.json())
    events: list[Any] = []
    for block in r.text.split("\n\n"):
        if not block.strip():
            continue
        if case["client"] == "anthropic":
            event, data = block.split("\n")
            events.append([event.removeprefix("event: "), _normalise_json(json.loads(data.removeprefix("data: ")))])
        else:
            data = block.removeprefix("data: ")
            events.append(data if data == "[DONE]" else _normalise_json(json.loads(data)))
    return r.status_code, events


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
