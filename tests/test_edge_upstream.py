"""The upstream side of the safe edge, each attack first: redirects are not followed, error bodies
are capped and the provider's key masked, oversized bodies are a 502, and image URLs are fetched only where
a provider asks for it and never from loopback or private addresses (docs/security.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.hostile_upstream import API_KEY, PIXEL, Elsewhere, HostileUpstream
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

HEADER_SECRET = "hdr-secret-value-0987654321"


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[HostileUpstream, Elsewhere, str]]:
    up, away = HostileUpstream(huge_bytes=200_000), Elsewhere()
    away_server = ThreadedServer(away.app).start()
    up.elsewhere_url = away_server.url
    server = ThreadedServer(up.app).start()
    yield up, away, server.url
    server.stop()
    away_server.stop()


@pytest.fixture(scope="module")
def gw(hostile: tuple[HostileUpstream, Elsewhere, str], fake_ollama: FakeOllama) -> Iterator[Gateway]:
    _, _, url = hostile
    ollama_url = fake_ollama.url  # type: ignore[attr-defined]
    config = {
        "providers": {
            "hostile": {
                "type": "openai",
                "base_url": url + "/v1",
                "api_key": API_KEY,
                "headers": {"X-Secret-Header": HEADER_SECRET},
                "max_response_bytes": 65536,
            },
            "oll": {"type": "ollama", "base_url": ollama_url},
            "ollfetch": {"type": "ollama", "base_url": ollama_url, "fetch_images": True, "image_timeout": 5},
            "ollallow": {
                "type": "ollama",
                "base_url": ollama_url,
                "fetch_images": True,
                "fetch_images_allow": ["127.0.0.1/32"],
                "max_image_bytes": 1048576,
            },
        },
        "models": {"demo": "hostile/ok"},
    }
    with Gateway(config) as g:
        yield g


@pytest.fixture(scope="module")
def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def _ask(client: openai.OpenAI, model: str, image: str | None = None) -> Any:
    content: Any = "hello"
    if image is not None:
        content = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": image}}]
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])


# ---------------------------------------------------------------------------------------------- redirects


def test_upstream_redirect_is_502_naming_the_provider_and_sends_nothing_elsewhere(
    client: openai.OpenAI, hostile: tuple[HostileUpstream, Elsewhere, str]
) -> None:
    _, away, _ = hostile
    with pytest.raises(openai.APIStatusError) as info:
        _ask(client, "hostile/redirect")
    assert info.value.status_code == 502
    assert "'hostile'" in info.value.message and "redirect" in info.value.message
    assert away.requests == []  # neither the key nor the prompt went to the redirect's target


# ---------------------------------------------------------------------------------------------- error bodies


def test_upstream_error_echoing_headers_never_shows_the_key(client: openai.OpenAI, gw: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "hostile/echo-headers")
    message = info.value.message
    assert "headers were" in message  # the upstream's message is still passed on ...
    assert API_KEY not in message and HEADER_SECRET not in message  # ... with the secrets masked
    assert f"sk-...{API_KEY[-4:]}" in message
    log = gw.log()
    assert API_KEY not in log and HEADER_SECRET not in log


def test_mid_stream_upstream_error_never_shows_the_key(client: openai.OpenAI, gw: Gateway) -> None:
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(
            model="hostile/stream-echo", stream=True, messages=[{"role": "user", "content": "hello"}]
        ):
            pass
    message = str(info.value)
    assert "headers were" in message and API_KEY not in message and HEADER_SECRET not in message
    log = gw.log()
    assert API_KEY not in log and HEADER_SECRET not in log


def test_upstream_error_body_is_capped(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "hostile/huge-error")
    assert "EEEE" in info.value.message and len(info.value.message) <= 8 * 1024 + 100


# ---------------------------------------------------------------------------------------------- body size


@pytest.mark.parametrize("model", ["hostile/huge", "hostile/huge-chunked"])
def test_non_streaming_body_over_max_response_bytes_is_502(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        _ask(client, model)
    assert info.value.status_code == 502 and "max_response_bytes" in info.value.message
    assert _ask(client, "hostile/ok").choices[0].message.content == "fine"  # a normal body still passes


# ---------------------------------------------------------------------------------------------- images


def test_image_url_without_fetch_images_is_400_saying_why(
    client: openai.OpenAI, hostile: tuple[HostileUpstream, Elsewhere, str]
) -> None:
    up, _, url = hostile
    before = up.image_hits
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "oll/llama3.2", url + "/img/pixel.png")
    assert "fetch_images" in info.value.message
    assert up.image_hits == before  # nothing was fetched


@pytest.mark.parametrize(
    "where",
    [
        "http://127.0.0.1:{port}/img/pixel.png",
        "http://localhost:{port}/img/pixel.png",  # a name that resolves to loopback
        "http://[::ffff:127.0.0.1]:{port}/img/pixel.png",  # IPv4-mapped IPv6
        "http://2130706433:{port}/img/pixel.png",  # 127.0.0.1 as one number
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://10.0.0.1/x.png",  # private
        "http://0x7f.1:{port}/img/pixel.png",
        "ftp://127.0.0.1/x.png",
    ],
)
def test_fetch_images_refuses_loopback_private_and_non_http(
    client: openai.OpenAI, hostile: tuple[HostileUpstream, Elsewhere, str], where: str
) -> None:
    up, _, url = hostile
    before = up.image_hits
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "ollfetch/llama3.2", where.format(port=url.rsplit(":", 1)[1]))
    assert any(why in info.value.message for why in ("not a public address", "http(s)", "numeric host"))
    assert up.image_hits == before


def test_allowed_network_image_arrives_whole(
    client: openai.OpenAI, hostile: tuple[HostileUpstream, Elsewhere, str], fake_ollama: FakeOllama
) -> None:
    _, _, url = hostile
    r = _ask(client, "ollallow/llama3.2", url + "/img/pixel.png")
    assert r.choices[0].message.content == "echo: look + 1 image"
    assert fake_ollama.last["messages"][-1]["images"] == [PIXEL]


def test_every_redirect_hop_is_checked(client: openai.OpenAI, hostile: tuple[HostileUpstream, Elsewhere, str]) -> None:
    up, _, url = hostile
    port = url.rsplit(":", 1)[1]
    # 127.0.0.1 is allowed for this provider, 127.0.0.2 is not: the redirect to it is refused.
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "ollallow/llama3.2", f"{url}/img/redirect?to=http://127.0.0.2:{port}/img/pixel.png")
    assert "127.0.0.2" in info.value.message and "not a public address" in info.value.message


def test_image_over_max_image_bytes_is_400_not_truncated(client: openai.OpenAI, hostile: Any) -> None:
    _, _, url = hostile
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "ollallow/llama3.2", url + "/img/big")
    assert "larger than 1048576 bytes" in info.value.message


def test_a_page_that_is_not_an_image_is_400(client: openai.OpenAI, hostile: Any) -> None:
    _, _, url = hostile
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, "ollallow/llama3.2", url + "/img/page")
    assert "not an image" in info.value.message
