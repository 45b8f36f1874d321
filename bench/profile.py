"""Where llm-link's CPU goes: load one scenario with wrk while py-spy samples one worker, then print the
top functions by own time and by inclusive time (stdlib, Sanic, aiohttp, prometheus_client and ours).

    pip install py-spy && python -m bench.profile --scenario openai-nonstream-c64 --seconds 8

py-spy needs ptrace (root, or CAP_SYS_PTRACE). The collapsed stacks are kept in bench/out/ for a
flame graph (e.g. `py-spy record --format flamegraph` or speedscope)."""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from bench import load
from bench.procstat import tree
from bench.run import HERE, SCENARIOS, raise_fd_limit
from bench.systems import LLMLink, Upstream


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; keep function and a short path.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3", "/work/main/", "/gateway/", "/providers/", "/dialects/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def summarize(raw: Path, top: int = 25) -> str:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive time (frames from gateway/, providers/, dialects/, sanic, aiohttp, prometheus):"]
    keep = ("gateway", "providers", "dialects", "sanic", "aiohttp", "prometheus", "msgspec", "orjson", "logging")
    shown = [(f, n) for f, n in incl.most_common() if any(k in f for k in keep)][:top]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in shown]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="openai-nonstream-c64", choices=[s.name for s in SCENARIOS])
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--out", default=str(HERE / "out"))
    a = p.parse_args(argv)
    if shutil.which("py-spy") is None:
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 1
    raise_fd_limit()
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sc = next(s for s in SCENARIOS if s.name == a.scenario)
    upstream = Upstream(out).start()
    gw = LLMLink(out, upstream.url, 1)
    try:
        gw.start()
        worker = max(tree(gw.pid)[1:] or [gw.pid])  # the Sanic worker (spawned after the main process)
        route = gw.route(sc.dialect)
        assert route is not None
        url = f"http://127.0.0.1:{gw.port}{route.path}"
        load.run_load(url, sc.body(), route.headers, sc.concurrency, 1, "auto", sc.end_marker)  # warm-up
        raw = out / f"profile-{sc.name}.txt"
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(worker),
                "--duration",
                str(a.seconds),
                "--rate",
                str(a.rate),
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        res: dict[str, load.LoadResult] = {}
        t = threading.Thread(
            target=lambda: res.update(
                r=load.run_load(url, sc.body(), route.headers, sc.concurrency, a.seconds, "auto", sc.end_marker)
            )
        )
        t.start()
        t.join()
        _, err = spy.communicate(timeout=60)
        if not raw.exists():
            print(f"py-spy failed: {err.decode(errors='replace')}", file=sys.stderr)
            return 1
        r = res["r"]
        print(f"{sc.name}: {r.rps:.0f} req/s, p50 {r.p50_ms:.2f} ms, {r.errors} errors (1 worker, py-spy attached)")
        print(summarize(raw))
        print(f"\ncollapsed stacks: {raw}")
    finally:
        gw.stop()
        upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
