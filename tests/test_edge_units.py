"""Fast in-process checks of the safe-edge rules behind the HTTP tests: which addresses an image
fetch may reach, key masking, request ids and header values, metric label folding, per-worker slots."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from aiohttp import web

from gateway.edge import clean_request_id, header_safe, log_safe
from gateway.limits import SlotTable, shared_table
from gateway.router import OTHER, ModelLabels
from providers.images import AddressPolicy, ImageFetcher, public_address
from tests.fakes.server import ThreadedServer
from unified.errors import GatewayError
from unified.redact import Redactor, mask


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert public_address(ipaddress.ip_address(address))


def test_allow_list_opens_chosen_networks_only() -> None:
    policy = AddressPolicy(["192.168.1.0/24"])
    assert policy(ipaddress.ip_address("192.168.1.7"))
    assert not policy(ipaddress.ip_address("192.168.2.7"))
    assert not policy(ipaddress.ip_address("127.0.0.1"))


def test_redactor_masks_own_secrets_and_key_shapes() -> None:
    own = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    redact = Redactor([own, "team-header-secret-42"])
    text = redact(
        f"bad: {own}; x-api-key: other-key-0123456789 Authorization: Bearer tok9876543210 "
        "team-header-secret-42 sk-ant-api03-ZZZZZZZZZZZZZZZZZZZZ; basic authentication required"
    )
    for secret in (own, "other-key-0123456789", "tok9876543210", "team-header-secret-42", "ZZZZZZZZZZZZZZZZ"):
        assert secret not in text
    assert mask(own) in text and mask(own) == "sk-...0123"
    assert "basic authentication required" in text  # ordinary words stay


def test_request_ids() -> None:
    assert clean_request_id("req-123_abc") == "req-123_abc"
    assert clean_request_id("a\udcffb\x01c") == "abc"  # lone surrogates are what Sanic makes of non-UTF-8 bytes
    assert clean_request_id("\udcff\udcfe") is None
    assert clean_request_id("x" * 500) == "x" * 128


def test_header_and_log_values() -> None:
    assert header_safe("mock/llama3") == "mock/llama3"
    assert header_safe("mock/h\u00e9\r\n").isascii() and "\r" not in header_safe("mock/h\u00e9\r\n")
    assert len(header_safe("x" * 10_000)) == 256
    assert log_safe("m\udcff") == "m?"
    assert len(log_safe("y" * 10_000) or "") == 257


def test_model_labels_fold_into_other() -> None:
    labels = ModelLabels(2)
    assert [labels.label(n) for n in ("a", "b", "c", "a", "d")] == ["a", "b", OTHER, "a", OTHER]


def test_slots_of_a_dead_pid_are_released() -> None:
    table = shared_table(2, workers=3)
    a, b = SlotTable(table), SlotTable(table)
    a.claim(1001)
    b.claim(1002)
    a.take(0)
    a.take(0)
    b.take(0)
    b.take(1)
    assert a.total(0) == 3 and a.total(1) == 1
    assert a.release(1001) == 2
    assert b.total(0) == 1 and b.total(1) == 1
    c = SlotTable(table)
    assert c.claim(1003) == a.row  # the freed row is taken again


# ---------------------------------------------------------------------------------------------- the fetcher


def _image_server() -> ThreadedServer:
    async def pixel(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG" + b"\0" * 100, content_type="image/png")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"\0" * 5000, content_type="image/png")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(body=b"late", content_type="image/png")

    app = web.Application()
    app.router.add_get("/pixel.png", pixel)
    app.router.add_get("/big", big)
    app.router.add_get("/hop", hop)
    app.router.add_get("/slow", slow)
    return ThreadedServer(app).start()


def test_fetcher_limits() -> None:
    server = _image_server()
    only_127_0_0_1 = AddressPolicy(["127.0.0.1/32"])

    async def run() -> list[str]:
        fetcher = ImageFetcher(1024, 1.0, only_127_0_0_1)
        outcomes = []
        try:
            assert (await fetcher.fetch(server.url + "/pixel.png")).startswith(b"\x89PNG")
            for url in (
                server.url + "/big",
                server.url + "/slow",
                f"{server.url}/hop?to=http://127.0.0.2:{server.port}/pixel.png",
            ):
                try:
                    await fetcher.fetch(url)
                    outcomes.append("fetched")
                except GatewayError as err:
                    outcomes.append(err.message)
        finally:
            await fetcher.close()
        return outcomes

    try:
        big, slow, hop = asyncio.run(run())
    finally:
        server.stop()
    assert "larger than 1024 bytes" in big
    assert "within 1s" in slow
    assert "127.0.0.2" in hop and "not a public address" in hop
