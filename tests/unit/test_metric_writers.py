"""The direct metric writers (gateway.metric_writers) leave the multiprocess files, and so /metrics, exactly as
prometheus_client's own writes do: the same random mix of observations is made once through the writers and
once through plain prometheus_client children (each in a fresh process, since the multiprocess directory is
fixed when prometheus_client is imported), and the files and the rendered exposition are compared byte for
byte. Enough label sets are made to grow the files past their first mapping (a remap under the writers)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import math, os, random, sys
    import gateway.metrics
    from gateway.metrics import Metrics, render
    mode = sys.argv[1]
    if mode == "plain":
        gateway.metrics._direct_writes = lambda: None  # prometheus_client's own value class, unpatched
    m = Metrics()
    rng = random.Random(17)
    bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]
    odd = [0.0, -1.0, 1e-9, float("inf"), 1e300, float("nan")]
    def amount():
        r = rng.random()
        if r < 0.3:
            return rng.choice(bounds)  # exactly on a bucket bound: that bucket, not the next
        if r < 0.35:
            return rng.choice(odd)
        return rng.expovariate(3.0) * rng.choice([1e-4, 1e-2, 1.0, 100.0])
    def get(family, *labels):
        if mode == "plain":
            return family.labels(*labels)
        return m.child(family, *labels)
    models = [f"model-{i}" for i in range(60)]
    for step in range(6000):
        model = rng.choice(models[: 5 + step // 100])
        kind = rng.randrange(8)
        if kind == 0:
            get(m.requests, "openai", model, "up", rng.choice(["200", "400", "502"])).inc()
        elif kind == 1:
            get(m.tokens, model, "up", rng.choice(["input", "output"])).inc(rng.randrange(1, 5000))
        elif kind == 2:
            get(m.cost, model, "up").inc(rng.random() / 1000)
        elif kind == 3:
            g = get(m.in_flight, rng.choice(["openai", "anthropic"]))
            g.inc() if rng.random() < 0.5 else g.dec()
        elif kind == 4:
            get(m.circuit_state, "up", model).set(rng.randrange(2))
        elif kind == 5:
            get(m.overhead, rng.choice(["openai", "anthropic"])).observe(amount() / 1000)
        else:
            get(m.request_duration, "openai", model, "up").observe(amount())
    if mode == "writers":  # the writers were used, not prometheus_client's children
        assert type(m.child(m.request_duration, "openai", models[0], "up")).__name__ == "HistogramWriter"
        assert type(m.child(m.in_flight, "openai")).__name__ == "GaugeWriter"
    sys.stdout.write(render()[0].decode())
    """
)


def _run(mode: str, where: Path) -> tuple[str, dict[str, bytes]]:
    where.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(where), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    files = {name.rsplit("_", 1)[0]: (where / name).read_bytes() for name in os.listdir(where)}
    return out.stdout, files


def test_writers_leave_the_files_and_metrics_exactly_as_prometheus_client(tmp_path: Path) -> None:
    text, files = _run("writers", tmp_path / "writers")
    plain_text, plain_files = _run("plain", tmp_path / "plain")
    assert sorted(files) == ["counter", "gauge_livesum", "gauge_max", "histogram"]
    assert len(files["histogram"]) > 1 << 16  # grew past the first mapping while the writers wrote
    assert files == plain_files
    # The collector lists series in the order it globs the files (their names carry the pid), so the
    # exposition is compared line by line, in sorted order.
    assert sorted(text.splitlines()) == sorted(plain_text.splitlines())
    assert 'llm_link_request_duration_seconds_bucket{dialect="openai",le="0.005",model="model-0"' in text


def test_writers_follow_a_fork_into_the_childs_own_files(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os
        from gateway.metrics import Metrics, render
        m = Metrics()
        s = m.series("openai", "bench", "up", "gpt")
        s.duration.observe(0.02)
        s.input.inc(5)
        pid = os.fork()
        if pid == 0:
            s.duration.observe(7.0)
            s.input.inc(100)
            os._exit(0)
        os.waitpid(pid, 0)
        s.duration.observe(0.02)
        print(render()[0].decode())
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = dict(line.rsplit(" ", 1) for line in out.stdout.splitlines() if line and not line.startswith("#"))
    labels = 'dialect="openai",model="bench",provider="up"'
    bucket = 'llm_link_request_duration_seconds_bucket{{dialect="openai",le="{}",model="bench",provider="up"}}'
    assert float(lines[f"llm_link_request_duration_seconds_count{{{labels}}}"]) == 3
    assert float(lines[bucket.format("0.025")]) == 2
    assert float(lines[bucket.format("5.0")]) == 2
    assert float(lines[bucket.format("10.0")]) == 3
    assert float(lines[f"llm_link_request_duration_seconds_sum{{{labels}}}"]) == 7.04
    assert float(lines['llm_link_tokens_total{direction="input",model="bench",provider="up"}']) == 105
    assert len([f for f in os.listdir(tmp_path) if f.startswith("histogram_")]) == 2  # parent's and child's


def test_without_a_multiprocess_directory_the_children_are_used_as_they_are() -> None:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from gateway.metric_writers import writer

    r = CollectorRegistry()
    counter = Counter("c", "c", ["a"], registry=r).labels("x")
    gauge = Gauge("g", "g", ["a"], registry=r).labels("x")
    histogram = Histogram("h", "h", ["a"], registry=r).labels("x")
    if counter._value._multiprocess:  # this process imported prometheus_client with a directory set
        return
    assert writer(counter) is counter and writer(gauge) is gauge and writer(histogram) is histogram


def test_a_negative_counter_increment_is_refused_as_prometheus_client_refuses_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from gateway.metrics import Metrics
        m = Metrics()
        c = m.child(m.tokens, "bench", "up", "input")
        assert type(c).__name__ == "CounterWriter"
        try:
            c.inc(-1)
        except ValueError as err:
            print(err)
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "non-negative" in out.stdout
