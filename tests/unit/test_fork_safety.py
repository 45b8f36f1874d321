"""Per-process shortcuts stay right across a fork: metric writes without prometheus_client's per-write process
check (gateway.metrics._direct_writes) still add up on a scrape, and ids minted from the buffered entropy
(unified.ids) never repeat in a forked child."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from gateway.metrics import Metrics, render
    m = Metrics()
    requests = m.child(m.requests, "openai", "bench", "up", "200")
    requests.inc()
    m.child(m.in_flight, "openai").inc()
    m.child(m.request_duration, "openai", "bench", "up").observe(0.02)
    pid = os.fork()
    if pid == 0:  # the child writes into its own file, not the parent's
        requests.inc(2)
        m.child(m.in_flight, "openai").dec()
        os._exit(0)
    os.waitpid(pid, 0)
    requests.inc(4)
    text = render()[0].decode()
    print(len([f for f in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]) if f.startswith("counter_")]))
    print(text)
    """
)


def _metric(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_counts_add_up_across_a_fork(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    files, _, text = out.stdout.partition("\n")
    assert files == "2"  # parent's and child's counter files
    assert _metric(text, 'llm_link_requests_total{dialect="openai"') == 7  # 1 + 4 here, 2 in the child
    assert _metric(text, "llm_link_in_flight_requests{") == 0  # livesum: +1 here, -1 in the child
    assert _metric(text, 'llm_link_request_duration_seconds_count{dialect="openai"') == 1


def test_a_forked_child_mints_other_ids() -> None:
    from unified.ids import mint

    mint("req_")  # the parent has digits buffered when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, "\n".join(mint("req_") for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {mint("req_") for _ in range(50)}
    assert len(child) == 50 and not child & parent


def test_threads_mint_other_ids() -> None:
    import threading

    from unified.ids import mint

    minted: list[list[str]] = [[] for _ in range(4)]

    def run(out: list[str]) -> None:
        out.extend(mint("req_") for _ in range(500))  # past one buffer of digits, so each thread refills

    threads = [threading.Thread(target=run, args=(out,)) for out in minted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for out in minted for i in out] + [mint("req_") for _ in range(500)]
    assert len(set(ids)) == len(ids) == 2500
