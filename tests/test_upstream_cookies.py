"""An upstream's Set-Cookie stays with the answer it came on: the gateway's shared upstream session keeps
no cookie jar, so one client's cookie never goes out on another client's request (or on any later one)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from aiohttp import web

from tests.fakes.server import ThreadedServer
from tests.harness import Gateway


class CookieSetter:
    """An OpenAI-format upstream that sets a session cookie on every answer and records the Cookie
    headers it is sent (as a CDN in front of a real provider does)."""

    def __init__(self) -> None:
        self.cookies: list[str | None] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.Response:
        await request.json()
        self.cookies.append(request.headers.get("Cookie"))
        answer = {
            "id": "chatcmpl-c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        response = web.json_response(answer)
        response.set_cookie("__cf_bm", f"client-{len(self.cookies)}", path="/")
        return response


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[CookieSetter, str]]:
    fake = CookieSetter()
    server = ThreadedServer(fake.app).start()
    yield fake, server.url
    server.stop()


@pytest.mark.parametrize("passthrough", [True, False], ids=["forwarded", "translated"])
def test_an_upstream_cookie_is_not_sent_on_later_requests(
    upstream: tuple[CookieSetter, str], passthrough: bool
) -> None:
    fake, url = upstream
    # By name, not by address: aiohttp's default jar ignores cookies from IP-address hosts.
    url = url.replace("127.0.0.1", "localhost")
    config = {
        "server": {"workers": 1},
        "providers": {"up": {"type": "openai", "base_url": url + "/v1", "api_key": "sk-x", "passthrough": passthrough}},
        "models": {"m": "up/m"},
    }
    with Gateway(config) as gw:
        fake.cookies.clear()
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-none", max_retries=0) as client:
            for _ in range(3):
                answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
                assert answer.choices[0].message.content == "ok"
    assert fake.cookies == [None, None, None]
