"""Soak: a bounded run of mixed traffic against a real multi-worker gateway, watching for anything that grows.

Traffic (seeded, so runs compare; `--requests` spread evenly over `--minutes`): the three dialects; half
the requests streamed; a tenth of the streaming clients hang up after the first chunk; most requests go to
the built-in `mock` provider (streams cut into chunks with a small delay) and an OpenAI-format upstream
(tests/fakes/faulty_upstream.py) answering normally, a few to the same upstream's faults (truncated, reset,
invalid JSON, in-stream error, stall).

Sampled every `--interval` seconds per worker: RSS (/proc/PID/status VmRSS), open file descriptors
(/proc/PID/fd), live asyncio tasks (the gateway's `llm_link_worker_asyncio_tasks{pid}` gauge), and the
`llm_link_in_flight_requests` gauge summed over workers.

The run FAILS when, after warm-up, a worker's RSS, fds or tasks keep growing (median of the last third of
the samples above the median of the first third by more than the allowance), when in-flight does not return
to 0 once the load stops, when a worker dies, or when a healthy route answered anything but success.

    python -m bench.soak --minutes 5                  # the full run: bench/soak_results.md, soak.json, soak.png
    python -m bench.soak --minutes 0.5 --requests 5000 --out /tmp/soak   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.faulty_upstream import FaultyUpstream
from tests.fakes.server import ThreadedServer
from tests.harness import Gateway

HERE = Path(__file__).resolve().parent
HEALTHY = ("demo", "up-ok")
FAULTS = ("truncated", "reset", "invalid_json", "error_mid", "stall")
# Growth allowances after warm-up (last-third median minus first-third median).
RSS_SLACK_MB, RSS_SLACK_FRAC = 8.0, 0.10
FD_SLACK = 8
TASK_SLACK = 16


@dataclass
class Sample:
    t: float
    in_flight: float
    done: int
    workers: dict[int, dict[str, float]]  # pid -> rss_mb, fds, tasks


@dataclass
class Tally:
    sent: int = 0
    done: int = 0
    streamed: int = 0
    hung_up: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)  # healthy routes that failed, 5xx from our own code

    def count(self, key: str) -> None:
        self.by_status[key] = self.by_status.get(key, 0) + 1


# ---------------------------------------------------------------------------------------------- gateway side


_METRIC = re.compile(r"^(llm_link_in_flight_requests|llm_link_worker_asyncio_tasks)\{([^}]*)\} ([0-9.eE+-]+)$")


async def scrape(session: aiohttp.ClientSession, url: str) -> tuple[float, dict[int, float]]:
    async with session.get(url + "/metrics") as resp:
        text = await resp.text()
    in_flight, tasks = 0.0, {}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        if m.group(1) == "llm_link_in_flight_requests":
            in_flight += float(m.group(3))
        else:
            pid = re.search(r'pid="(\d+)"', m.group(2))
            if pid:
                tasks[int(pid.group(1))] = float(m.group(3))
    return in_flight, tasks


def proc_stats(pid: int) -> dict[str, float] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None
    return {"rss_mb": rss / 1024, "fds": float(fds)}


async def sample(session: aiohttp.ClientSession, url: str, t0: float, tally: Tally) -> Sample:
    in_flight, tasks = await scrape(session, url)
    workers = {}
    for pid, n in tasks.items():
        stats = proc_stats(pid)
        if stats is not None:
            workers[pid] = {**stats, "tasks": n}
    return Sample(round(time.monotonic() - t0, 2), in_flight, tally.done, workers)


# ---------------------------------------------------------------------------------------------- client side


def request_for(rng: random.Random, dialects: list[str]) -> tuple[str, str, dict[str, Any], bool, bool, bool]:
    """(path, model, body, stream, hang_up, healthy) for one request."""
    dialect = rng.choices(dialects, weights=[6, 2, 2][: len(dialects)])[0]
    roll = rng.random()
    model = "demo" if roll < 0.6 else "up-ok" if roll < 0.96 else "up-" + rng.choice(FAULTS)
    stream = rng.random() < 0.5
    hang_up = stream and rng.random() < 0.1
    messages = [{"role": "user", "content": f"soak {rng.randrange(10**6)} " + "x" * rng.randrange(200)}]
    if dialect == "openai":
        return (
            "/v1/chat/completions",
            model,
            {"model": model, "messages": messages, "stream": stream},
            stream,
            hang_up,
            model in HEALTHY,
        )
    if dialect == "anthropic":
        return (
            "/anthropic/v1/messages",
            model,
            {"model": model, "max_tokens": 64, "messages": messages, "stream": stream},
            stream,
            hang_up,
            model in HEALTHY,
        )
    return (
        "/ollama/api/chat",
        model,
        {"model": model, "messages": messages, "stream": stream},
        stream,
        hang_up,
        model in HEALTHY,
    )


async def one(session: aiohttp.ClientSession, url: str, rng: random.Random, dialects: list[str], tally: Tally) -> None:
    path, model, body, stream, hang_up, healthy = request_for(rng, dialects)
    try:
        async with session.post(url + path, json=body, timeout=aiohttp.ClientTimeout(total=60)) as resp:
            status = resp.status
            if stream and status == 200:
                tally.streamed += 1
                if hang_up:
                    await resp.content.readany()
                    resp.close()  # the client goes away mid-stream
                    tally.hung_up += 1
                    tally.count("hung_up")
                    return
            data = await resp.read()
    except (TimeoutError, aiohttp.ClientError) as err:
        tally.count("client_error")
        if healthy:
            tally.bad.append(f"{path} {model}: {type(err).__name__}")
        return
    finally:
        tally.done += 1
    tally.count(str(status))
    failed_in_stream = stream and status == 200 and (b'"error"' in data[-400:] or b"event: error" in data[-400:])
    if healthy and (status != 200 or failed_in_stream):
        tally.bad.append(f"{path} {model}: {status} {data[-200:]!r}")
    elif status == 500:
        tally.bad.append(f"{path} {model}: 500 from our own code: {data[:200]!r}")


async def load(
    url: str, seconds: float, max_requests: int, concurrency: int, dialects: list[str], tally: Tally
) -> None:
    """Spread `max_requests` evenly over `seconds` (request k is due at k * seconds / max_requests), so the
    run lasts its whole time; a gateway too slow for that rate just gets them back to back."""
    start = time.monotonic()
    deadline = start + seconds
    spacing = seconds / max_requests
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(n: int) -> None:
            rng = random.Random(n)
            while time.monotonic() < deadline and tally.sent < max_requests:
                due = start + tally.sent * spacing
                tally.sent += 1
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                await one(session, url, rng, dialects, tally)

        await asyncio.gather(*(client(n) for n in range(concurrency)))


# ---------------------------------------------------------------------------------------------- verdict


def growth(samples: list[Sample], pid: int, key: str) -> tuple[float, float]:
    """(median of the first third, median of the last third) of the post-warm-up samples."""
    values = [s.workers[pid][key] for s in samples if pid in s.workers]
    third = max(1, len(values) // 3)
    return statistics.median(values[:third]), statistics.median(values[-third:])


def verdict(
    samples: list[Sample], warmup: float, pids: list[int], settle: list[Sample]
) -> tuple[list[str], list[dict[str, Any]]]:
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    steady = [s for s in samples if s.t >= warmup]
    for pid in pids:
        row: dict[str, Any] = {"pid": pid}
        for key, slack in (("rss_mb", None), ("fds", FD_SLACK), ("tasks", TASK_SLACK)):
            first, last = growth(steady, pid, key)
            allowed = max(RSS_SLACK_MB, first * RSS_SLACK_FRAC) if slack is None else slack
            row[key] = (first, last, allowed)
            if last - first > allowed:
                problems.append(
                    f"worker {pid}: {key} grew from {first:.1f} to {last:.1f} after warm-up (allowed +{allowed:.1f})"
                )
        rows.append(row)
    if not settle or settle[-1].in_flight != 0:
        problems.append(
            f"in-flight did not return to 0 after the load (last: {settle[-1].in_flight if settle else '?'})"
        )
    alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    if len(alive) != len(pids):
        problems.append(f"workers died: {sorted(set(pids) - set(alive))}")
    return problems, rows


# ---------------------------------------------------------------------------------------------- run


async def soak(
    url: str,
    minutes: float,
    max_requests: int,
    concurrency: int,
    interval: float,
    dialects: list[str],
) -> tuple[Tally, list[Sample], list[Sample], float]:
    tally = Tally()
    samples: list[Sample] = []
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as monitor:
        loader = asyncio.create_task(load(url, minutes * 60, max_requests, concurrency, dialects, tally))
        while not loader.done():
            samples.append(await sample(monitor, url, t0, tally))
            try:
                await asyncio.wait_for(asyncio.shield(loader), interval)
            except TimeoutError:
                pass
        await loader
        load_seconds = time.monotonic() - t0
        settle: list[Sample] = []
        for _ in range(40):  # up to ~20 s for stalls to time out and streams to close
            settle.append(await sample(monitor, url, t0, tally))
            if settle[-1].in_flight == 0 and len(settle) >= 4:
                break
            await asyncio.sleep(0.5)
    return tally, samples, settle, load_seconds


def plot(samples: list[Sample], settle: list[Sample], warmup: float, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return False
    allsamples = samples + settle
    pids = sorted({pid for s in allsamples for pid in s.workers})
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    for ax, key, title in (
        (axes[0][0], "rss_mb", "RSS per worker (MB)"),
        (axes[0][1], "fds", "open fds per worker"),
        (axes[1][0], "tasks", "asyncio tasks per worker"),
    ):
        for i, pid in enumerate(pids):
            pts = [(s.t, s.workers[pid][key]) for s in allsamples if pid in s.workers]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"worker {i + 1}")
        ax.set_title(title)
        ax.axvline(warmup, color="grey", linestyle=":", linewidth=1)
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower right", fontsize=8)
    ax = axes[1][1]
    ax.plot([s.t for s in allsamples], [s.in_flight for s in allsamples], label="in flight", color="tab:red")
    ax.set_title("in-flight requests (all workers) and throughput")
    rate = ax.twinx()
    rate.plot(
        [b.t for b in samples[1:]],
        [(b.done - a.done) / max(1e-9, b.t - a.t) for a, b in itertools.pairwise(samples)],
        color="tab:green",
        linewidth=0.8,
        label="req/s",
    )
    rate.set_ylabel("req/s")
    ax.legend(loc="upper left", fontsize=8)
    for row in axes:
        for a in row:
            a.set_xlabel("seconds")
    fig.suptitle("llm-link soak (dotted line: end of warm-up)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def report(
    args: argparse.Namespace,
    tally: Tally,
    samples: list[Sample],
    settle: list[Sample],
    seconds: float,
    problems: list[str],
    rows: list[dict[str, Any]],
    warmup: float,
    png: bool,
) -> str:
    lines = [
        "# Soak results",
        "",
        f"`python -m bench.soak --minutes {args.minutes:g} --requests {args.requests} --concurrency {args.concurrency} "
        f"--workers {args.workers}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}.",
        "",
        f"**{'PASS' if not problems else 'FAIL'}**: {tally.done} requests in {seconds:.0f} s "
        f"({tally.done / max(seconds, 1e-9):.0f} req/s, concurrency {args.concurrency}), {tally.streamed} streamed, "
        f"{tally.hung_up} hung up mid-stream; warm-up {warmup:.0f} s; {len(samples)} samples.",
        "",
        "Outcomes: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.by_status.items())),
        "",
        "| worker | RSS MB (first third -> last third) | fds | asyncio tasks |",
        "|---|---|---|---|",
    ]
    for i, row in enumerate(rows):
        cells = [f"{row[k][0]:.1f} -> {row[k][1]:.1f} (allowed +{row[k][2]:.0f})" for k in ("rss_mb", "fds", "tasks")]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    idle = settle[-1] if settle else None
    if idle is not None:
        lines += [
            "",
            f"After the load: in-flight {idle.in_flight:g} after {idle.t - seconds:.1f} s; per worker "
            + "; ".join(
                f"RSS {w['rss_mb']:.1f} MB, {w['fds']:.0f} fds, {w['tasks']:.0f} tasks" for w in idle.workers.values()
            )
            + ".",
        ]
    if problems:
        lines += ["", "Problems:", *[f"- {p}" for p in problems]]
    if tally.bad:
        lines += ["", f"Failed healthy requests ({len(tally.bad)}), first ones:", *[f"- `{b}`" for b in tally.bad[:10]]]
    if png:
        lines += ["", "![soak](soak.png)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=0.2, help="fraction of the run that is warm-up")
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args(argv)
    from dialects import DIALECTS

    dialects = [d for d in ("openai", "anthropic", "ollama") if d in DIALECTS]
    up = FaultyUpstream()
    server = ThreadedServer(up.app).start()
    config = {
        "server": {"log_level": "warning"},
        "providers": {
            "mock": {"type": "mock", "options": {"chunks": 8, "chunk_delay": 0.002}},
            "up": {
                "type": "openai",
                "base_url": server.url + "/v1",
                "api_key": "sk-soak",
                "timeout": 30,
                "read_timeout": 2,
            },
        },
        "models": {
            "demo": "mock/demo",
            "up-ok": {"provider": "up", "model": "ok", "retries": 0},
            **{f"up-{f}": {"provider": "up", "model": f, "retries": 0} for f in FAULTS},
        },
    }
    gw = Gateway(config, workers=args.workers).start()
    try:
        tally, samples, settle, seconds = asyncio.run(
            soak(gw.url, args.minutes, args.requests, args.concurrency, args.interval, dialects)
        )
        warmup = seconds * args.warmup
        pids = sorted({pid for s in samples for pid in s.workers})
        problems, rows = verdict(samples, warmup, pids, settle)
        if not pids:
            problems.append("no worker reported llm_link_worker_asyncio_tasks")
        if tally.bad:
            problems.append(f"{len(tally.bad)} healthy requests failed or 500s from our own code")
        if "Traceback" in gw.log():
            problems.append("a traceback in the gateway log")
    finally:
        gw.stop()
        server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    png = plot(samples, settle, warmup, args.out / "soak.png")
    (args.out / "soak.json").write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "seconds": seconds,
                "tally": vars(tally),
                "samples": [vars(s) for s in samples],
                "settle": [vars(s) for s in settle],
                "problems": problems,
            },
            indent=1,
        )
    )
    text = report(args, tally, samples, settle, seconds, problems, rows, warmup, png)
    (args.out / "soak_results.md").write_text(text)
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
