"""The benchmark driver: `python -m bench [--quick] [--peers]`.

Starts the mock upstream, the bare passthrough and llm-link (and with --peers LiteLLM proxy and Portkey),
then for every scenario runs a bounded load against each system in turn, alternating systems round by
round, and reports requests/s, p50/p99, errors, server CPU microseconds per request (utime+stime of the
whole process tree from /proc / completed requests), peak RSS per process, and ratios against the direct
call and the passthrough. Then holds N slow streams open through each system (one worker) and reports
RSS per stream. Results go to bench/out/ (JSON, Markdown table, PNG plot when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load
from bench.procstat import RSSSampler, TreeCPU, rss_bytes, tree
from bench.systems import LLMLink, Passthrough, System, Upstream

HERE = Path(__file__).resolve().parent
PROMPT = "Write one short sentence about latency."


@dataclass(frozen=True)
class Scenario:
    name: str
    dialect: str  # what the client speaks; every gateway talks OpenAI to the upstream
    stream: bool
    concurrency: int

    def body(self, model: str = "bench") -> bytes:
        msgs = [{"role": "user", "content": PROMPT}]
        if self.dialect == "anthropic-native":  # a model on an Anthropic upstream: the same-API lane
            model = "claude-" + model
        if self.dialect.startswith("anthropic"):
            obj: dict[str, Any] = {"model": model, "max_tokens": 256, "messages": msgs, "stream": self.stream}
        elif self.dialect == "responses":
            obj = {"model": model, "input": PROMPT, "store": False, "stream": self.stream}
        else:
            obj = {"model": model, "messages": msgs, "stream": self.stream}
        return json.dumps(obj).encode()

    @property
    def end_marker(self) -> bytes | None:
        if not self.stream:
            return None
        return {
            "openai": b"[DONE]",
            "responses": b'"total_tokens":',  # usage ends response.completed, the last (long) event
            "anthropic": b"message_stop",
            "anthropic-native": b"message_stop",
            "ollama": b'"done":true',
        }[self.dialect]

    @property
    def baseline(self) -> str:
        """The passthrough scenario this one's CPU is judged against (the passthrough relays OpenAI chat, and
        Anthropic Messages for the Anthropic-on-both-sides scenario)."""
        if self.dialect == "anthropic-native":
            return self.name
        return f"openai-{'stream' if self.stream else 'nonstream'}-c{self.concurrency}"


SCENARIOS = [
    Scenario("openai-nonstream-c1", "openai", False, 1),
    Scenario("openai-nonstream-c64", "openai", False, 64),
    Scenario("openai-nonstream-c256", "openai", False, 256),
    Scenario("openai-stream-c1", "openai", True, 1),
    Scenario("openai-stream-c64", "openai", True, 64),
    Scenario("openai-stream-c256", "openai", True, 256),
    Scenario("anthropic-stream-c64", "anthropic", True, 64),
    Scenario("ollama-stream-c64", "ollama", True, 64),
    Scenario("responses-stream-c64", "responses", True, 64),  # Responses client -> chat upstream
    Scenario("anthropic-native-stream-c64", "anthropic-native", True, 64),  # Anthropic on both sides
]

# `--scenarios issue17`: the six ratios of issue #17 (c1 non-stream gives the added p50 against direct).
PRESETS = {
    "issue17": [
        "openai-nonstream-c64",
        "openai-stream-c64",
        "anthropic-stream-c64",
        "responses-stream-c64",
        "anthropic-native-stream-c64",
        "openai-nonstream-c1",
    ],
}

# (what, scenario, limit): the CPU ratios of issue #17, llm-link over the passthrough in the same run.
RATIO_TARGETS = [
    ("OpenAI chat -> openai, non-stream", "openai-nonstream-c64", 1.25),
    ("OpenAI chat -> openai, stream (20 chunks)", "openai-stream-c64", 1.25),
    ("Anthropic client -> openai upstream, stream", "anthropic-stream-c64", 1.8),
    ("Responses client -> openai chat upstream, stream", "responses-stream-c64", 1.8),
    ("Anthropic -> anthropic passthrough, stream", "anthropic-native-stream-c64", 1.3),
]


# ------------------------------------------------------------------------------------------------ probes


def probe(system: System, sc: Scenario) -> str | None:
    """One request before measuring: None when the system answers this scenario correctly, else why not."""
    route = system.route(sc.dialect)
    if route is None:
        return "n/a (unsupported)"
    try:
        conn = http.client.HTTPConnection("127.0.0.1", system.port, timeout=30)
        conn.request("POST", route.path, body=sc.body(), headers=route.headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
    except (OSError, http.client.HTTPException) as err:
        return f"n/a (probe failed: {type(err).__name__})"
    if resp.status == 404 and isinstance(system, LLMLink):
        return "n/a (dialect missing)"
    if resp.status != 200:
        return f"n/a (probe: HTTP {resp.status} {data[:120]!r})"
    marker = sc.end_marker
    if marker is not None and marker not in data[-600:]:
        return f"n/a (probe: stream did not end with {marker.decode()})"
    if marker is None and b"tok" not in data:
        return "n/a (probe: answer text missing)"
    return None


# ----------------------------------------------------------------------------------------------- running


def measure(system: System, sc: Scenario, seconds: float, tool: str, warmup: float = 1.0) -> dict[str, Any]:
    route = system.route(sc.dialect)
    assert route is not None
    url = f"http://127.0.0.1:{system.port}{route.path}"
    if warmup:  # not counted: connection pools, caches and (node) the JIT settle first
        load.run_load(url, sc.body(), route.headers, sc.concurrency, warmup, tool, sc.end_marker)
    cpu = TreeCPU(system.pid)
    before = cpu.sample()
    with RSSSampler(system.pid, 0.25) as rss:
        res = load.run_load(url, sc.body(), route.headers, sc.concurrency, seconds, tool, sc.end_marker)
    after = cpu.sample()
    cpu_s = TreeCPU.delta(before, after)
    return {
        "rps": res.rps,
        "requests": res.requests,
        "errors": res.errors,
        "p50_ms": res.p50_ms,
        "p99_ms": res.p99_ms,
        "cpu_us": cpu_s / res.requests * 1e6 if res.requests else None,
        "cpu_s": cpu_s,
        "rss_worker_mb": rss.peak_worker() / 2**20,
        "processes": len(after),
        "tool": res.tool,
    }


def slow_streams(
    system: System, streams: int, slow_seconds: float, pending: int = 64, dialect: str = "openai"
) -> dict[str, Any]:
    """Hold `streams` slow streams (one chunk per second) open at once; RSS per stream of the whole tree."""
    route = system.route(dialect)
    assert route is not None
    sc = Scenario("slow", dialect, True, streams)
    time.sleep(0.5)
    idle_total = sum(rss_bytes(p) for p in tree(system.pid))
    during: list[int] = []

    async def sample() -> None:
        for _ in range(4):
            during.append(sum(rss_bytes(p) for p in tree(system.pid)))
            await asyncio.sleep(0.5)

    with RSSSampler(system.pid, 0.5) as rss:
        res = asyncio.run(
            load.hold_streams(
                f"http://127.0.0.1:{system.port}{route.path}",
                sc.body("slow"),
                route.headers,
                streams,
                sc.end_marker or b"",
                sample,
                pending=pending,
                timeout=slow_seconds + 30,
            )
        )
    peak = max(during + [rss.peak_total]) if during else rss.peak_total
    return {
        "streams": streams,
        "opened": res.opened,
        "completed": res.completed,
        "errors": res.errors,
        "error_kinds": res.error_kinds,
        "peak_concurrent": res.peak_concurrent,
        "ramp_s": res.ramp_seconds,
        "rss_idle_mb": idle_total / 2**20,
        "rss_peak_mb": peak / 2**20,
        "rss_per_stream_kb": (peak - idle_total) / max(1, res.peak_concurrent) / 1024,
        "rss_worker_mb": rss.peak_worker() / 2**20,
    }


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    for target in (max(want, 65536), want):
        try:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (target, max(target, hard) if hard != resource.RLIM_INFINITY else hard)
            )
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r.get("cpu_us") is not None]
    if not ok:
        return {}
    med = lambda k: statistics.median(r[k] for r in ok)  # noqa: E731
    return {
        "rps": med("rps"),
        "p50_ms": med("p50_ms"),
        "p99_ms": max(r["p99_ms"] for r in ok),
        "errors": sum(r["errors"] for r in ok),
        "requests": sum(r["requests"] for r in ok),
        "cpu_us": med("cpu_us"),
        "rss_worker_mb": max(r["rss_worker_mb"] for r in ok),
        "rounds": len(ok),
    }


# ------------------------------------------------------------------------------------------------ report


def fmt(v: Any, spec: str = ".0f") -> str:
    return "–" if v is None else format(v, spec)


def table(results: dict[str, Any], systems: list[str]) -> str:
    lines = [
        "| scenario | system | req/s | p50 ms | p99 ms | errors | CPU µs/req | x passthrough CPU | "
        "+p50 ms vs direct | req/s vs direct | peak RSS/proc MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sc in results["scenarios"]:
        name = sc["name"]
        per = sc["systems"]
        direct = per.get("direct", {}).get("summary") or {}
        base = results["baselines"].get(sc["baseline"]) or {}
        for sys_name in systems:
            entry = per.get(sys_name)
            if entry is None:
                continue
            s = entry.get("summary") or {}
            if not s:
                lines.append(f"| {name} | {sys_name} | {entry.get('skipped', 'n/a')} |||||||||")
                continue
            ratio = s["cpu_us"] / base["cpu_us"] if base.get("cpu_us") and sys_name != "direct" else None
            added = s["p50_ms"] - direct["p50_ms"] if direct and sys_name != "direct" else None
            rps_ratio = s["rps"] / direct["rps"] if direct.get("rps") and sys_name != "direct" else None
            cpu = "(mock) " + fmt(s["cpu_us"]) if sys_name == "direct" else fmt(s["cpu_us"])
            lines.append(
                f"| {name} | {sys_name} | {fmt(s['rps'])} | {fmt(s['p50_ms'], '.2f')} | "
                f"{fmt(s['p99_ms'], '.2f')} | {s['errors']} | {cpu} | {fmt(ratio, '.2f')} | "
                f"{fmt(added, '+.2f')} | {fmt(rps_ratio, '.2f')} | {fmt(s['rss_worker_mb'], '.0f')} |"
            )
    out = "\n".join(lines)
    if results.get("slow"):
        out += (
            "\n\n| idle slow streams | system | held at once | errors | RSS idle MB | RSS peak MB | "
            "RSS per stream KB | ramp s |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
        )
        for row in results["slow"]:
            if "skipped" in row:
                out += f"| {row['streams']} | {row['system']} | {row['skipped']} ||||||\n"
                continue
            kinds = ", ".join(f"{k}: {v}" for k, v in row["error_kinds"].items())
            out += (
                f"| {row['streams']} | {row['system']} | {row['peak_concurrent']} | {row['errors']}"
                f"{' (' + kinds + ')' if kinds else ''} | {row['rss_idle_mb']:.0f} | {row['rss_peak_mb']:.0f} | "
                f"{row['rss_per_stream_kb']:.1f} | {row['ramp_s']:.1f} |\n"
            )
    return out


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets for llm-link, each (what, measured, met)."""
    by = {sc["name"]: sc for sc in results["scenarios"]}
    base = results["baselines"]

    def cpu(name: str, system: str) -> float | None:
        return ((by.get(name) or {}).get("systems", {}).get(system, {}).get("summary") or {}).get("cpu_us")

    def summ(name: str, system: str) -> dict[str, Any]:
        return (by.get(name) or {}).get("systems", {}).get(system, {}).get("summary") or {}

    out: list[tuple[str, str, bool | None]] = []
    for name, limit in (("openai-nonstream-c64", 1.5), ("anthropic-stream-c64", 2.5)):
        ours, pt = cpu(name, "llm-link"), (base.get(by[name]["baseline"]) or {}).get("cpu_us") if name in by else None
        if ours is None or pt is None:
            out.append((f"{name}: CPU <= {limit}x passthrough", "not measured", None))
        else:
            out.append(
                (
                    f"{name}: CPU <= {limit}x passthrough",
                    f"{ours:.0f} µs vs {pt:.0f} µs = {ours / pt:.2f}x",
                    ours / pt <= limit,
                )
            )
    ours, direct = summ("openai-nonstream-c1", "llm-link"), summ("openai-nonstream-c1", "direct")
    if ours and direct:
        added = ours["p50_ms"] - direct["p50_ms"]
        out.append(("added p50 at concurrency 1 < 0.5 ms", f"{added:+.2f} ms", added < 0.5))
    for name in ("openai-nonstream-c256", "openai-stream-c256"):
        s = summ(name, "llm-link")
        if s:
            out.append((f"{name}: no errors", f"{s['errors']} errors", s["errors"] == 0))
    for row in results.get("slow", []):
        if row["system"] == "llm-link" and "skipped" not in row:
            out.append(
                (
                    f"{row['streams']} idle streams in one worker without errors",
                    f"{row['peak_concurrent']} held, {row['errors']} errors, {row['rss_per_stream_kb']:.1f} KB/stream",
                    row["errors"] == 0 and row["peak_concurrent"] >= row["streams"],
                )
            )
    return out


def markdown(results: dict[str, Any], systems: list[str]) -> str:
    m = results["meta"]
    lines = [
        f"Run {m['date']} on {m['machine']}; command `{m['command']}`; load tool {m['tool']}; "
        f"{m['seconds']} s per measurement x {m['rounds']} round(s), systems alternating.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
        table(results, systems),
        "",
        "Targets (llm-link):",
        "",
    ]
    for what, measured, met in targets(results):
        lines.append(f"- {'MET' if met else ('MISSED' if met is False else 'n/a')}: {what} — {measured}")
    ratios = ratio_table(results)
    if ratios:
        lines += ["", ratios]
    return "\n".join(lines) + "\n"


def ratio_table(results: dict[str, Any]) -> str:
    """Issue #17's table: llm-link CPU per request over the passthrough's in the same run, and added p50."""
    by = {sc["name"]: sc for sc in results["scenarios"]}

    def summ(name: str, system: str) -> dict[str, Any]:
        return (by.get(name) or {}).get("systems", {}).get(system, {}).get("summary") or {}

    rows = []
    for what, name, limit in RATIO_TARGETS:
        ours = summ(name, "llm-link").get("cpu_us")
        pt = (results["baselines"].get(by[name]["baseline"]) or {}).get("cpu_us") if name in by else None
        if ours is None or pt is None:
            continue
        r = ours / pt
        rows.append(f"| {what} | {pt:.0f} | {ours:.0f} | {r:.2f}x | ≤ {limit}x | {'met' if r <= limit else 'missed'} |")
    ours, direct = summ("openai-nonstream-c1", "llm-link"), summ("openai-nonstream-c1", "direct")
    if ours and direct:
        added = ours["p50_ms"] - direct["p50_ms"]
        rows.append(
            f"| added p50 at c=1, non-stream | – | – | {added:+.2f} ms | ≤ +0.15 ms | {'met' if added <= 0.15 else 'missed'} |"
        )
    if not rows:
        return ""
    head = (
        "| issue #17 | passthrough CPU µs/req | llm-link CPU µs/req | ratio | target | |\n|---|---:|---:|---:|---:|---|"
    )
    return head + "\n" + "\n".join(rows)


def plot(results: dict[str, Any], systems: list[str], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [sc["name"] for sc in results["scenarios"]]
    gws = [s for s in systems if s != "direct"]
    fig, ax = plt.subplots(figsize=(12, 5.5))
    width = 0.8 / max(1, len(gws))
    for i, s in enumerate(gws):
        vals = [((sc["systems"].get(s) or {}).get("summary") or {}).get("cpu_us") or 0 for sc in results["scenarios"]]
        bars = ax.bar([x + i * width for x in range(len(names))], vals, width, label=s)
        for b, v in zip(bars, vals):
            if v:
                ax.annotate(
                    f"{v:.0f}",
                    (b.get_x() + b.get_width() / 2, v),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    rotation=90,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 3)  # room for the value labels above the tallest bars
    ax.set_ylabel("server CPU µs per request (log scale, lower is better)")
    ax.set_xticks([x + width * (len(gws) - 1) / 2 for x in range(len(names))])
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_title(f"llm-link bench — {results['meta']['date']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -------------------------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="short runs, one round, 1,000 slow streams only")
    p.add_argument("--peers", action="store_true", help="also install and measure LiteLLM proxy and Portkey")
    p.add_argument("--seconds", type=float, help="seconds per measurement (default 3 quick / 5 full)")
    p.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds of load before each measurement")
    p.add_argument("--rounds", type=int, help="rounds, systems alternating within each (default 1 quick / 2 full)")
    p.add_argument("--scenarios", help="comma-separated scenario names, or the preset issue17 (default: all)")
    p.add_argument(
        "--systems",
        help="comma-separated: direct,passthrough,llm-link,llm-link-translated,llm-link-traced,llm-link-base,litellm,portkey",
    )
    p.add_argument("--base", help="llm-link-base runs llm-link from this other checkout (e.g. a git worktree)")
    p.add_argument(
        "--slow", help="comma-separated counts of idle slow streams (default 1000 quick / 1000,10000 full; 0 = none)"
    )
    p.add_argument(
        "--slow-pending",
        type=int,
        default=64,
        help="idle streams connecting at once while ramping up (Sanic's default listen backlog is 100)",
    )
    p.add_argument("--slow-seconds", type=int, help="length of a slow stream, one chunk per second")
    p.add_argument(
        "--tool",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk when installed (auto), else the built-in Python one",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="workers of llm-link and the passthrough (idle streams always use 1)"
    )
    p.add_argument("--chunks", type=int, default=20, help="chunks per mock stream")
    p.add_argument("--out", default=str(HERE / "out"), help="directory for results.json/.md/.png and logs")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    seconds = a.seconds or 3
    rounds = a.rounds or (1 if a.quick else 2)
    slow_counts = [int(x) for x in (a.slow or ("1000" if a.quick else "1000,10000")).split(",") if int(x) > 0]
    tool = a.tool if a.tool != "auto" else ("wrk" if load.have_wrk() else "python")
    if a.tool == "auto" and tool == "python":
        print(
            "wrk not found (apt-get install wrk): using the built-in Python load generator, which itself needs"
            " CPU; numbers are comparable within this run only.",
            flush=True,
        )
    names = [n for part in (a.scenarios or "").split(",") if part for n in PRESETS.get(part, [part])]
    scenarios = [s for s in SCENARIOS if not names or s.name in names]
    wanted = (
        a.systems.split(",")
        if a.systems
        else ["direct", "passthrough", "llm-link"] + (["litellm", "portkey"] if a.peers else [])
    )
    out = Path(a.out).resolve()  # servers run with their own working directory
    out.mkdir(parents=True, exist_ok=True)
    fd_limit = raise_fd_limit()
    slow_seconds = a.slow_seconds or (15 if not slow_counts or max(slow_counts) <= 1000 else 30)
    # Idle streams: a chunk every few seconds, so 10,000 of them stay mostly idle (and the client keeps up).
    slow_delay = max(1.0, slow_seconds / 10)

    started = time.monotonic()
    upstream = Upstream(
        out, chunks=a.chunks, slow_chunks=max(1, round(slow_seconds / slow_delay)), slow_delay=slow_delay
    ).start()
    running: dict[str, System] = {}
    results: dict[str, Any] = {"scenarios": [], "baselines": {}, "slow": []}
    versions: dict[str, str] = {"python": platform.python_version()}
    try:
        if "direct" in wanted:
            running["direct"] = upstream
        factories: dict[str, Any] = {
            "passthrough": lambda: Passthrough(out, upstream.url, a.workers),
            "llm-link": lambda: LLMLink(out, upstream.url, a.workers),
            # Every request traced (sample_ratio 1), spans exported to the mock upstream's OTLP sink.
            "llm-link-translated": lambda: LLMLink(
                out, upstream.url, a.workers, name="llm-link-translated", passthrough=False
            ),
            "llm-link-traced": lambda: LLMLink(
                out, upstream.url, a.workers, telemetry={"otlp_endpoint": upstream.url}, name="llm-link-traced"
            ),
        }
        if a.base:
            factories["llm-link-base"] = lambda: LLMLink(
                out, upstream.url, a.workers, name="llm-link-base", root=Path(a.base)
            )
        if any(s in wanted for s in ("litellm", "portkey")):
            from bench.peers import LiteLLM, Portkey

            factories["litellm"] = lambda: LiteLLM(out, upstream.url, 2)
            factories["portkey"] = lambda: Portkey(out, upstream.url)
        for name in wanted:
            if name in factories:
                print(f"starting {name} ...", flush=True)
                try:
                    running[name] = factories[name]().start()
                except Exception as err:
                    print(f"  {name} failed to start: {err}", flush=True)
                    results.setdefault("failed", {})[name] = str(err)[:500]
                    continue
                if running[name].version:
                    versions[name] = running[name].version
        order = [n for n in wanted if n in running]

        for sc in scenarios:
            entry: dict[str, Any] = {"name": sc.name, "baseline": sc.baseline, "systems": {}}
            live = []
            for name in order:
                why = probe(running[name], sc)
                if why:
                    entry["systems"][name] = {"skipped": why, "runs": []}
                else:
                    entry["systems"][name] = {"runs": []}
                    live.append(name)
            for r in range(rounds):
                # Alternate: each round visits every system, starting one later each time.
                for name in live[r % len(live) :] + live[: r % len(live)] if live else []:
                    row = measure(running[name], sc, seconds, tool, a.warmup)
                    entry["systems"][name]["runs"].append(row)
                    print(
                        f"{sc.name:24} {name:12} {row['rps']:8.0f} req/s  p50 {row['p50_ms']:7.2f} ms  "
                        f"p99 {row['p99_ms']:7.2f} ms  err {row['errors']:4}  CPU "
                        f"{fmt(row['cpu_us']):>6} µs/req",
                        flush=True,
                    )
            for e in entry["systems"].values():
                e["summary"] = summarize(e["runs"])
            results["scenarios"].append(entry)
            pt = entry["systems"].get("passthrough", {}).get("summary")
            if pt:
                results["baselines"][sc.name] = pt

        # Idle slow streams: llm-link and the passthrough with ONE worker (fresh instances), peers as started.
        if slow_counts:
            # llm-link and the passthrough: a fresh ONE-worker instance per count (a clean idle RSS);
            # peers as started.
            for name in order:
                if name in ("llm-link", "passthrough") and a.workers != 1:
                    running[name].stop()
            for n in slow_counts:
                need = 2 * n + 200
                for name in order:
                    if name == "direct":
                        continue
                    if n > 1000 and name in ("litellm", "portkey"):
                        results["slow"].append({"system": name, "streams": n, "skipped": "not run (peers: 1,000 only)"})
                        continue
                    fresh = name in ("llm-link", "passthrough") and a.workers != 1
                    if fresh:
                        cls = LLMLink if name == "llm-link" else Passthrough
                        try:
                            system = cls(out, upstream.url, 1).start()
                        except Exception as err:
                            print(f"  {name} (1 worker) failed to start: {err}", flush=True)
                            continue
                    else:
                        system = running[name]
                    try:
                        if probe(system, Scenario("slow-probe", "openai", True, 1)):
                            results["slow"].append({"system": name, "streams": n, "skipped": "n/a"})
                            continue
                        if need > fd_limit:
                            print(
                                f"note: {n} proxied streams need ~{need} file descriptors in one process; "
                                f"the limit here is {fd_limit}",
                                flush=True,
                            )
                        row = slow_streams(system, n, slow_seconds, a.slow_pending)
                    finally:
                        if fresh:
                            system.stop()
                    row["system"] = name
                    results["slow"].append(row)
                    print(
                        f"slow streams {n:6} {name:12} held {row['peak_concurrent']:6}  errors {row['errors']:5}"
                        f"  {row['rss_per_stream_kb']:.1f} KB/stream  {row['error_kinds'] or ''}",
                        flush=True,
                    )
    finally:
        for system in running.values():
            system.stop()
        upstream.stop()

    cmd = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    results["meta"] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": cmd.strip(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs, Linux {platform.release()}",
        "tool": tool,
        "seconds": seconds,
        "rounds": rounds,
        "versions": versions,
        "fd_limit": fd_limit,
        "wall_seconds": round(time.monotonic() - started, 1),
        "slow_stream_seconds": slow_seconds,
        "slow_chunk_every_s": slow_delay,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    md = markdown(results, wanted)
    (out / "results.md").write_text(md)
    print()
    print(md)
    if plot(results, [s for s in wanted if s in running or s == "direct"], out / "results.png"):
        print(f"plot: {out / 'results.png'}")
    print(f"results: {out / 'results.json'}, {out / 'results.md'}  ({results['meta']['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
