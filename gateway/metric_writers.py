"""Metric writes with as few Python steps as a write can take, for the label children a request touches.

A prometheus_client child in multiprocess mode writes through four or five Python calls (the child's method,
its checks, the value's inc, MmapedDict.write_value, the pack helper). A writer wraps one child once and
does the same write itself: it updates the value object's running total (so the child, if used directly,
stays in step) and packs (value, timestamp) at the value's cached position in its file. The file's bytes end
up exactly as prometheus_client's own writes leave them; tests/unit/test_metric_writers.py checks the files
and the rendered /metrics against it.

The mmap itself is read from the file on each write, never cached: MmapedDict replaces it when the file
grows. Positions never move. In a forked child each writer has prometheus_client reopen its value in the
child's own files (the process check of `.get()`, which the writes skip) and then points at the new file."""

from __future__ import annotations

import os
import struct
import weakref
from bisect import bisect_left
from typing import Any

_pack = struct.Struct(b"dd").pack  # the layout MmapedDict writes: value, timestamp
_unpack = struct.Struct(b"dd").unpack_from

# Every writer made in this process, to rebind after a fork; weak, so writers of dropped children go.
_writers: weakref.WeakSet[Any] = weakref.WeakSet()


def rebind_all() -> None:
    """Point every writer at its value's file in this process (run in a forked child)."""
    for w in list(_writers):
        w.rebind()


os.register_at_fork(after_in_child=rebind_all)


def _place(value: Any) -> tuple[Any, int]:
    """A value's file and the offset of its (value, timestamp) pair in it (writers keep it as a slice:
    the cheapest index into the mmap). Raises LookupError unless the file holds the value there as this
    module expects (a prometheus_client that stores values otherwise gets its own write path)."""
    f = value._file
    at = f._positions.get(value._key)
    if at is None:
        raise LookupError(value._key)
    held = _unpack(f._m, at)
    if held != (value._value, value._timestamp) and held[0] == held[0]:  # (NaN is never equal to itself)
        raise LookupError(value._key)
    return f, at


class _ValueWriter:
    """One value of a child (a counter's or a gauge's), at its place in this process's file."""

    __slots__ = ("__weakref__", "_at", "_file", "_value")

    def __init__(self, child: Any) -> None:
        self._value = child._value
        self.rebind()
        _writers.add(self)

    def rebind(self) -> None:
        self._value.get()  # prometheus_client's process check: after a fork, reopens values in our files
        self._file, at = _place(self._value)
        self._at = slice(at, at + 16)


class CounterWriter(_ValueWriter):
    """`inc` of one counter child (non-negative amounts, as prometheus_client's Counter demands)."""

    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        v = self._value
        x = v._value = v._value + amount
        self._file._m[self._at] = _pack(x, 0.0)


class GaugeWriter(_ValueWriter):
    """`inc` / `dec` / `set` of one gauge child in any mode but the timestamped ones (mostrecent), which
    keep prometheus_client's own child."""

    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        v = self._value
        x = v._value = v._value + amount
        v._timestamp = 0.0
        self._file._m[self._at] = _pack(x, 0.0)

    def dec(self, amount: float = 1.0) -> None:
        v = self._value
        x = v._value = v._value - amount
        v._timestamp = 0.0
        self._file._m[self._at] = _pack(x, 0.0)

    def set(self, value: float) -> None:
        v = self._value
        x = v._value = float(value)
        v._timestamp = 0.0
        self._file._m[self._at] = _pack(x, 0.0)


class HistogramWriter:
    """`observe` of one histogram child: the bucket found by bisection on the upper bounds (the first bound
    >= the amount, as prometheus_client's `amount <= bound` scan finds it), then two writes, bucket and sum.
    All of a child's values live in one file (the histogram file of this process)."""

    __slots__ = ("__weakref__", "_at", "_bounds", "_buckets", "_file", "_sum", "_sum_at")

    def __init__(self, child: Any) -> None:
        self._bounds = tuple(child._upper_bounds)
        self._buckets = tuple(child._buckets)
        self._sum = child._sum
        self.rebind()
        _writers.add(self)

    def rebind(self) -> None:
        self._sum.get()  # prometheus_client's process check: after a fork, reopens values in our files
        self._file, at = _place(self._sum)
        self._sum_at = slice(at, at + 16)
        self._at = tuple(slice(at, at + 16) for at in (_place(b)[1] for b in self._buckets))

    def observe(self, amount: float) -> None:
        m = self._file._m
        s = self._sum
        x = s._value = s._value + amount
        m[self._sum_at] = _pack(x, 0.0)
        if amount == amount:  # NaN falls in no bucket (every `amount <= bound` is false), bisection says 0
            i = bisect_left(self._bounds, amount)
            b = self._buckets[i]
            x = b._value = b._value + 1.0
            m[self._at[i]] = _pack(x, 0.0)


def writer(child: Any) -> Any:
    """A writer for a label child of a Counter, a Gauge (but a mostrecent one) or a Histogram; the child itself where
    there is no multiprocess file behind it (an app made in-process without PROMETHEUS_MULTIPROC_DIR) or
    the metric is of another kind. Either has the same `inc` / `dec` / `observe`."""
    try:
        kind = child._type
        if kind == "histogram":
            if child._sum._multiprocess:
                return HistogramWriter(child)
        elif kind == "counter":
            if child._value._multiprocess:
                return CounterWriter(child)
        elif kind == "gauge" and child._value._multiprocess and not child._is_most_recent:
            return GaugeWriter(child)
    except (AttributeError, LookupError):  # another prometheus_client layout: its own (slower) writes
        pass
    return child
