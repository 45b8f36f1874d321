"""Pure parts of the core, in-process: target choice, backoff, transforms, the circuit breaker, the
shared-memory limiter, and the <think> splitter."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from dialects.ollama.think import ThinkSplitter, split_think
from gateway import dispatch
from gateway.circuit import Circuit, counts_as_failure
from gateway.config import parse
from gateway.limits import LocalLimiter, shared_table
from gateway.limits.common import CONCURRENCY, OK, QUOTA, RPM
from gateway.router import Router
from providers import registry
from unified.errors import GatewayError
from unified.types import Message, Request, TextPart


def router_for(models: dict, providers: tuple[str, ...] = ("a", "b")) -> Router:
    raw = {"providers": {p: {"type": "mock"} for p in providers}, "models": models}
    cfg = parse(raw, "test")
    built = {n: registry.provider_class(c.type)(n, c, cfg.provider_options(n), None) for n, c in cfg.providers.items()}
    return Router(cfg, built)


def test_choice_follows_weights_and_skips_tried_and_ejected_targets() -> None:
    router = router_for(
        {"m": {"targets": [{"provider": "a", "model": "x", "weight": 3}, {"provider": "b", "model": "x"}]}}
    )
    route = router.resolve("m")
    a, b = route.targets
    random.seed(7)
    picks = Counter(dispatch.choose(route, [], 0.0).provider.name for _ in range(2000))
    assert 0.70 < picks["a"] / 2000 < 0.80
    assert dispatch.choose(route, [a], 0.0) is b  # a retry goes to a target not tried yet
    for _ in range(5):
        a.circuit.failure(100.0)
    assert all(dispatch.choose(route, [], 101.0) is b for _ in range(50))  # ejected while open
    b.circuit.failure(100.0)
    for _ in range(4):
        b.circuit.failure(100.0)
    assert dispatch.choose(route, [], 101.0) in (a, b)  # nothing healthy: still answers with something


def test_resolution_names() -> None:
    router = router_for({"m": "a/x"})
    assert router.resolve("m").name == "m"
    assert router.resolve("m:latest").name == "m"
    assert router.resolve("b/anything").primary.label == "b/anything"
    with pytest.raises(GatewayError) as err:
        router.resolve("nope")
    assert err.value.status == 404


def test_backoff() -> None:
    err = GatewayError("overloaded", "busy", status=503)
    assert dispatch._backoff(1, err, same_target=False, deadline=None) == 0.0  # switching targets: no pause
    random.seed(1)
    first = dispatch._backoff(1, err, True, None)
    assert dispatch.BACKOFF_BASE / 2 <= first <= dispatch.BACKOFF_BASE
    assert dispatch._backoff(30, err, True, None) <= dispatch.BACKOFF_CAP
    hinted = GatewayError("rate_limit", "slow down", status=429, headers={"Retry-After": "3"})
    assert dispatch._backoff(1, hinted, True, None) >= 3.0
    huge = GatewayError("rate_limit", "later", status=429, headers={"retry-after-ms": "9000000"})
    assert dispatch._backoff(1, huge, True, None) == dispatch.RETRY_AFTER_CAP


def test_transform_defaults_overrides_and_prefix() -> None:
    router = router_for(
        {
            "m": {
                "provider": "a",
                "model": "x",
                "defaults": {"temperature": 0.3},
                "overrides": {"max_tokens": 100},
                "system_prefix": "Be kind.",
            }
        }
    )
    route = router.resolve("m")
    req = Request(model="m", messages=[Message(role="user", content=[TextPart(text="hi")])], max_tokens=500)
    out = dispatch.transform(route, req)
    assert out.temperature == 0.3 and out.max_tokens == 100  # overrides cap what the client asked
    assert out.messages[0].role == "system" and out.messages[0].content[0].text == "Be kind."  # type: ignore[union-attr]
    assert req.max_tokens == 500  # the client's request is not changed in place


def test_circuit_opens_half_opens_and_closes() -> None:
    c = Circuit(threshold=2, cooldown=10.0)
    c.failure(0.0)
    assert c.available(0.0) and not c.is_open
    c.failure(1.0)
    assert c.is_open and not c.available(5.0)
    assert c.available(11.0)
    c.acquire(11.0)  # the half-open probe
    assert not c.available(11.0)  # one probe at a time
    c.failure(12.0)
    assert c.is_open and not c.available(13.0)
    c.acquire(23.0)
    c.success()
    assert not c.is_open and c.available(23.0)
    assert counts_as_failure(GatewayError("timeout", "t", status=504))
    assert not counts_as_failure(GatewayError("rate_limit", "r", status=429))
    assert not counts_as_failure(GatewayError("invalid_request", "bad"))


class Key:
    def __init__(self, index: int, rpm: int = 0, tpm: int = 0, conc: int = 0, quota: int = 0) -> None:
        self.index, self.rpm, self.tpm, self.max_concurrency, self.monthly_tokens = index, rpm, tpm, conc, quota
        self.name = f"k{index}"


def test_local_limiter_counts_requests_concurrency_and_quota() -> None:
    limiter = LocalLimiter(shared_table(3))
    rpm = Key(0, rpm=2)
    assert [limiter.admit(rpm, "202611").code for _ in range(3)] == [OK, OK, RPM]
    conc = Key(1, conc=1)
    assert limiter.admit(conc, "202611").code == OK
    assert limiter.admit(conc, "202611").code == CONCURRENCY
    limiter.settle(conc, 0, "202611", slot=True)
    assert limiter.admit(conc, "202611").code == OK
    quota = Key(2, quota=100)
    assert limiter.admit(quota, "202611").code == OK
    limiter.settle(quota, 150, "202611", slot=False)
    assert limiter.admit(quota, "202611").code == QUOTA
    assert limiter.admit(quota, "202612").code == OK  # a new month starts from zero


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 100])
def test_think_splitter_across_chunks(cut: int) -> None:
    text = "  <think>step one\nstep two</think>The answer is 4."
    s = ThinkSplitter()
    pieces = []
    for i in range(0, len(text), cut):
        pieces += s.feed(text[i : i + cut])
    pieces += s.flush()
    assert "".join(t for th, t in pieces if th) == "step one\nstep two"
    assert "".join(t for th, t in pieces if not th) == "The answer is 4."


def test_think_splitter_leaves_plain_text_alone() -> None:
    assert split_think("no tags <think> here") == ("", "no tags <think> here")
    assert split_think("<thin") == ("", "<thin")
    assert split_think("<think>unfinished") == ("unfinished", "")


async def test_a_subclass_streaming_by_events_is_not_read_by_its_parents_framed_reader() -> None:
    from providers.openai import OpenAIProvider
    from unified.provider import GeneratorStream, Provider
    from unified.types import Finish, Start

    class EventByEvent(OpenAIProvider):
        type = "event-by-event"

        async def stream(self, request, model, up):  # type: ignore[no-untyped-def]
            yield Start(id="s", model=model)
            yield Finish()

    assert EventByEvent.open_stream is Provider.open_stream
    cfg = parse({"providers": {"p": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}}}, "t").providers["p"]
    stream = await EventByEvent("p", cfg, None, None).open_stream(None, "m", None)  # type: ignore[arg-type]
    assert isinstance(stream, GeneratorStream)
    assert [type(e) for e in await stream.read()] == [Start, Finish]  # one batch: no Flush came between
