"""`affinity: session` in-process: the session key's precedence, rendezvous ranking (stable across processes,
weights honoured over many sessions, few moves when a target is added), unhealthy targets skipped and
returned to, retries in rank order, and the config's check of the setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from sanic.compat import Header

from gateway import dispatch
from gateway.affinity import pick, session_key
from gateway.config import ConfigError, parse
from gateway.router import Route, Router
from providers import registry
from tests.harness import ROOT


def router_for(models: dict, providers: tuple[str, ...] = ("a", "b", "c")) -> Router:
    raw = {"providers": {p: {"type": "mock"} for p in providers}, "models": models}
    cfg = parse(raw, "test")
    built = {n: registry.provider_class(c.type)(n, c, cfg.provider_options(n), None) for n, c in cfg.providers.items()}
    return Router(cfg, built)


def sticky(*weights: float) -> Route:
    names = "abc"
    targets = [{"provider": names[i], "model": "x", "weight": w} for i, w in enumerate(weights)]
    return router_for({"m": {"targets": targets, "affinity": "session"}}).resolve("m")


def key(i: int | str) -> bytes:
    k = session_key({}, (f"session-{i}",))
    assert k is not None
    return k


def first(route: Route, k: bytes) -> str:
    assert route.rendezvous is not None
    return route.rendezvous.rank(k)[0].provider.name


def test_key_precedence_headers_then_body_fields_in_order() -> None:
    h = Header({"X-Session-Id": "s1", "X-Claude-Code-Session-Id": "cc1"})
    assert session_key(h, ("pck", "user")) == session_key({}, ("s1",))
    h = Header({"x-claude-code-session-id": "cc1"})
    assert session_key(h, ("pck", "user")) == session_key({}, ("cc1",))
    assert session_key(Header(), ("pck", "user")) == session_key({}, ("pck",))
    assert session_key(Header(), (None, "user")) == session_key({}, ("user",))
    assert session_key(Header({"X-Session-Id": ""}), ("", None, "user")) == session_key({}, ("user",))  # empty = absent
    assert session_key(Header(), (None, "")) is None
    assert session_key(Header(), ()) is None


def test_key_is_a_bounded_digest_of_any_string() -> None:
    long = session_key({}, ("x" * 100_000,))
    lone = session_key({}, ("\ud800 half a surrogate pair",))  # a JSON \ud800 escape decodes to this
    assert long is not None and lone is not None
    assert len(long) == len(lone) == 8
    assert session_key({}, ("a",)) != session_key({}, ("b",))


def test_ranking_is_the_same_in_every_process() -> None:
    """Workers and replicas are separate processes with their own str-hash seeds; the ranking must not
    depend on them."""
    code = (
        "import json; from gateway.affinity import session_key; from tests.unit.test_affinity import sticky;"
        "r = sticky(1, 1, 1).rendezvous;"
        "print(json.dumps([[t.provider.name for t in r.rank(session_key({}, (f's{i}',)))] for i in range(30)]))"
    )
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout))
    here = sticky(1, 1, 1).rendezvous
    assert here is not None
    mine = [[t.provider.name for t in here.rank(session_key({}, (f"s{i}",)) or b"")] for i in range(30)]
    assert runs[0] == runs[1] == mine
    assert len({tuple(r) for r in mine}) > 1  # and the sessions do not all share one order


def test_weights_hold_over_many_sessions() -> None:
    route = sticky(3, 1)
    share = Counter(first(route, key(i)) for i in range(4000))
    assert 0.72 < share["a"] / 4000 < 0.78  # 0.75 expected; the bounds are > 4 sigma
    route = sticky(1, 1, 2)
    share = Counter(first(route, key(i)) for i in range(4000))
    assert 0.22 < share["a"] / 4000 < 0.28 and 0.22 < share["b"] / 4000 < 0.28 and 0.47 < share["c"] / 4000 < 0.53


def test_adding_a_target_moves_only_the_sessions_it_wins() -> None:
    two, three = sticky(1, 1), sticky(1, 1, 1)
    moved = 0
    for i in range(3000):
        before, after = first(two, key(i)), first(three, key(i))
        if before != after:
            assert after == "c"  # a session never moves between the old targets
            moved += 1
    assert 0.29 < moved / 3000 < 0.38  # about a third go to the new target


def test_unhealthy_target_is_skipped_and_the_session_returns_when_it_heals() -> None:
    route = sticky(1, 1, 1)
    assert route.rendezvous is not None
    k = key("healing")
    ranked = route.rendezvous.rank(k)
    best, second, third = ranked
    assert dispatch.choose(route, [], 0.0, ranked) is best
    for _ in range(best.circuit.threshold):
        best.circuit.failure(0.0)
    assert dispatch.choose(route, [], 1.0, ranked) is second  # ejected: the next in this session's order
    assert dispatch.choose(route, [second], 1.0, ranked) is third  # and a retry goes on in that order
    # after the cooldown the session's own target is tried again (the half-open probe), and kept on success
    later = best.circuit.cooldown + 1.0
    assert dispatch.choose(route, [], later, ranked) is best
    best.circuit.acquire(later)
    best.circuit.success()
    assert dispatch.choose(route, [], later, ranked) is best


def test_pick_when_nothing_is_healthy_or_everything_was_tried() -> None:
    route = sticky(1, 1)
    assert route.rendezvous is not None
    ranked = route.rendezvous.rank(key("x"))
    best, second = ranked
    assert pick(ranked, [best, second], 0.0) is best  # all tried, all healthy: the session's own again
    for t in ranked:
        for _ in range(t.circuit.threshold):
            t.circuit.failure(0.0)
    assert pick(ranked, [], 0.0) is best  # nothing healthy: still in rank order
    assert pick(ranked, [best], 0.0) is second


def test_without_a_session_key_the_choice_is_weighted_random() -> None:
    route = sticky(1, 1)
    picks = Counter(dispatch.choose(route, [], 0.0).provider.name for _ in range(400))
    assert picks["a"] > 100 and picks["b"] > 100


def test_rendezvous_only_where_it_can_choose() -> None:
    router = router_for(
        {
            "one": {"targets": [{"provider": "a", "model": "x"}], "affinity": "session"},
            "plain": {"targets": [{"provider": "a", "model": "x"}, {"provider": "b", "model": "x"}]},
            "two": {
                "targets": [{"provider": "a", "model": "y"}, {"provider": "b", "model": "y"}],
                "affinity": "session",
            },
            "front": {"provider": "c", "model": "z", "fallbacks": ["two"]},
        }
    )
    assert router.resolve("one").rendezvous is None and not router.resolve("one").sticky
    assert router.resolve("plain").rendezvous is None and not router.resolve("plain").sticky
    assert router.resolve("two").rendezvous is not None and router.resolve("two").sticky
    assert router.resolve("front").sticky  # its fallback ranks by session, so the key is read for it too
    assert {row["model"]: row["affinity"] for row in router.describe()}["two"] == "session"


def test_reordering_targets_in_the_config_moves_no_session() -> None:
    ab = sticky(1, 1)
    ba = router_for(
        {
            "m": {
                "targets": [{"provider": "b", "model": "x"}, {"provider": "a", "model": "x"}],
                "affinity": "session",
            }
        }
    ).resolve("m")
    assert all(first(ab, key(i)) == first(ba, key(i)) for i in range(200))


@pytest.mark.parametrize("value", ["sticky", "Session", "", 3])
def test_other_affinity_values_are_config_errors(value: object) -> None:
    models = {"m": {"targets": [{"provider": "a", "model": "x"}], "affinity": value}}
    with pytest.raises(ConfigError) as err:
        parse({"providers": {"a": {"type": "mock"}}, "models": models}, "test")
    assert any(p.startswith("models.m.affinity") for p in err.value.problems), err.value.problems
    if isinstance(value, str):
        assert f"models.m.affinity: expected `session`, got {value!r}" in err.value.problems
