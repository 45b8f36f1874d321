"""The benchmark harness runs end to end: mock upstream, a real llm-link, the built-in Python load generator
(so CI needs no wrk), CPU per request from /proc, and a few idle slow streams through one worker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bench reads /proc")


def test_quick_bench_measures_llm_link_against_direct(tmp_path: Path) -> None:
    from bench.run import main

    code = main(
        [
            "--quick",
            "--systems",
            "direct,llm-link",
            "--scenarios",
            "openai-stream-c1",
            "--tool",
            "python",
            "--workers",
            "1",
            "--seconds",
            "1",
            "--warmup",
            "0",
            "--slow",
            "20",
            "--slow-seconds",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    [scenario] = results["scenarios"]
    ours = scenario["systems"]["llm-link"]["summary"]
    direct = scenario["systems"]["direct"]["summary"]
    assert ours["requests"] > 0 and direct["requests"] > 0
    assert ours["errors"] == 0  # every stream ended with data: [DONE]
    assert ours["cpu_us"] > 0 and ours["rss_worker_mb"] > 10
    [slow] = [row for row in results["slow"] if row["system"] == "llm-link"]
    assert slow["errors"] == 0 and slow["completed"] == 20 and slow["peak_concurrent"] == 20
    table = (tmp_path / "results.md").read_text()
    assert "| openai-stream-c1 | llm-link |" in table and "idle slow streams" in table
