"""CPU per request of a response-cache hit next to the same request proxied to the mock upstream:
one llm-link worker, a model with `cache: true` and the same model without, each loaded for a few seconds
with identical requests (so every cached request after the first is a hit), server CPU from /proc.

    python -m bench.cache [--seconds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench import load
from bench.procstat import TreeCPU
from bench.run import Scenario
from bench.systems import LLMLink, System, Upstream


class CachedLLMLink(LLMLink):
    name = "llm-link-cache"

    def start(self, timeout: float = 90) -> System:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": self.port, "workers": self.workers, "log_level": "info"},
            "providers": {"up": {"type": "openai", "base_url": self.upstream + "/v1", "api_key": "sk-bench-upstream"}},
            "models": {"bench": "up/bench", "bench-cached": {"provider": "up", "model": "bench", "cache": True}},
            "cache": {"backend": "memory", "ttl": 600},
        }
        self.config_path.write_text(yaml.safe_dump(config))
        return System.start(self, timeout)


def cpu_us(gw: System, sc: Scenario, model: str, seconds: float) -> tuple[float, int]:
    route = gw.route(sc.dialect)
    assert route is not None
    url = f"http://127.0.0.1:{gw.port}{route.path}"
    body = sc.body(model)
    load.run_load(url, body, route.headers, sc.concurrency, 1.0, "auto", sc.end_marker)  # warm (and store)
    cpu = TreeCPU(gw.pid)
    before = cpu.sample()
    res = load.run_load(url, body, route.headers, sc.concurrency, seconds, "auto", sc.end_marker)
    spent = TreeCPU.delta(before, cpu.sample())
    assert not res.errors, res
    return spent / res.requests * 1e6, res.requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    upstream = Upstream(work).start()
    assert isinstance(upstream, Upstream)
    gw = CachedLLMLink(work, upstream.url, workers=1).start()
    try:
        print("| client, shape | proxied CPU µs/req | cache hit CPU µs/req | requests (proxied / hit) |")
        print("|---|---|---|---|")
        for dialect in ("openai", "anthropic", "responses"):
            for stream in (False, True):
                sc = Scenario(f"{dialect}-{stream}", dialect, stream, args.concurrency)
                proxied, n1 = cpu_us(gw, sc, "bench", args.seconds)
                hit, n2 = cpu_us(gw, sc, "bench-cached", args.seconds)
                shape = "stream" if stream else "json"
                print(f"| {dialect}, {shape} | {proxied:.0f} | {hit:.0f} | {n1} / {n2} |")
    finally:
        gw.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
