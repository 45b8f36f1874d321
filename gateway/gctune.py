"""Garbage-collector settings for a serving worker.

Everything alive once the worker is ready (modules, config, routes, the provider adapters) lives as long
as the worker, yet every full collection would walk it again; frozen, the collector skips it. Requests
make many short-lived containers, so the youngest generation is collected less often too: each pass
costs about the same whatever its threshold, and a request's garbage is mostly freed by reference
counting before a pass ever sees it."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 7000  # CPython's default is 700


def settle() -> None:
    """Called once per worker after start-up: collect what start-up left, then freeze the rest."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
