"""CPU of the forwarding lane's stream scan (gateway.native.EventScan), in-process: the mock upstream's
20-chunk OpenAI and Anthropic streams fed whole (one read) and cut into 22 reads, best of 5 x 3000 streams.
Each read's output also gets the relay's check for an error event to mask (gateway.relay.relayable), and each
read up to the first content the check for content (`has_content`, as gateway.forward does).

    python -m bench.scan_cost
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from bench.upstream import anthropic_events, openai_events
from dialects.anthropic.native import Scan as AnthropicScan
from dialects.openai.native import Scan as OpenAIScan
from gateway.relay import relayable


class _Provider:
    def mask(self, text: str) -> str:
        return text


class _Target:
    provider = _Provider()


target: Any = _Target()


def cost(make: Callable[[], Any], data: bytes, reads: int, n: int = 3000) -> tuple[float, bytes]:
    size = max(1, len(data) // reads)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    best, out = float("inf"), b""
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            scan = make()
            parts = []
            content = False
            for c in chunks:
                out = scan.feed(c)
                if not content:
                    content = scan.has_content(c)
                if out:
                    relayable(out, scan, target)
                parts.append(out)
            parts.append(scan.tail())
        best = min(best, (time.process_time() - t) / n * 1e6)
        out = b"".join(parts)
    return best, out


def main() -> None:
    streams = (
        ("openai", lambda: OpenAIScan("bench", True), b"".join(openai_events(20, True))),
        ("anthropic", lambda: AnthropicScan("claude-bench"), b"".join(anthropic_events(20))),
    )
    for name, make, data in streams:
        for reads in (1, 22):
            us, out = cost(make, data, reads)
            digest = hashlib.sha1(out).hexdigest()[:10]
            print(f"{name:9} {reads:2} read(s): {us:6.1f} µs/stream  (out {len(out)} bytes, sha1 {digest})")


if __name__ == "__main__":
    main()
