"""Hot reload: SIGHUP to the main process, a change of the file with `server.watch_config`, or
`POST /admin/api/reload` loads the config file again.

The main process validates the file (a thread: it also polls the file's identity once a second when
watching, so a Kubernetes ConfigMap's symlink swap counts as a change) and, when it is valid, bumps a
generation number shared with the workers (`multiprocessing.Value`). Each worker polls that number and
loads the same file; it builds new providers, router and key table and swaps them onto `app.ctx` in one
step without awaiting in between, so a request sees the old config or the new one, never a mix. Requests
and streams in flight hold the route (and providers) they resolved, and finish on the old config. An
invalid file changes nothing: its problems are logged with their paths and counted as
`llm_link_config_reloads_total{result="failure"}`.

What a worker cannot change while serving (the listening socket, worker count, body limits, dialect
prefixes, the database) is kept and named in the answer as needing a restart."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import signal
import threading
from pathlib import Path
from typing import Any

import msgspec

from gateway.config import Config, ConfigError, load

log = logging.getLogger("llm_link")

POLL_SECONDS = 1.0  # file identity check (main process) and generation check (workers)
# Changing these takes a restart; the running values are kept.
LIVE_SERVER_FIELDS = ("watch_config", "log_level")
RESTART_SECTIONS = ("dialects", "telemetry", "responses", "cache")


class Outcome(msgspec.Struct, omit_defaults=True):
    ok: bool
    problems: list[str] = []
    restart_needed: list[str] = []
    changed: bool = True


_counter: Any = None


def _reloads() -> Any:
    global _counter
    if _counter is None:
        from prometheus_client import Counter

        _counter = Counter("llm_link_config_reloads_total", "Config reloads", ["result"], registry=None)
    return _counter


def count(result: str) -> None:
    """llm_link_config_reloads_total{result}: counted once per reload, by the process that decided it."""
    _reloads().labels(result).inc()


def file_of(cfg: Config) -> str | None:
    return None if cfg.source == "built-in default" else cfg.source


def signature(path: str) -> tuple[Any, ...] | None:
    """What identifies the file's current version: the resolved target (a ConfigMap swaps a symlink) and
    its inode, size and mtime."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return (real, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


def digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def load_again(running: Config) -> tuple[Config | None, Outcome]:
    """Load the running config's file again and merge what cannot change live; never raises."""
    path = file_of(running)
    if path is None:
        return None, Outcome(ok=False, problems=["no config file: the gateway runs the built-in default"])
    try:
        # Command-line and environment settings of `server` stay as they were at start-up.
        new = load(path)
    except ConfigError as err:
        return None, Outcome(ok=False, problems=list(err.problems))
    except Exception as err:  # never let a reload take a worker down
        return None, Outcome(ok=False, problems=[f"{path}: {type(err).__name__}: {err}"])
    restart: list[str] = []
    live = {f: getattr(new.server, f) for f in LIVE_SERVER_FIELDS}
    server = msgspec.structs.replace(running.server, **live)
    for field in msgspec.structs.fields(new.server):
        name = field.name
        if name in LIVE_SERVER_FIELDS or name in ("host", "port", "workers"):
            continue
        if getattr(new.server, name) != getattr(running.server, name):
            restart.append(f"server.{name}")
    kept: dict[str, Any] = {}
    for section in RESTART_SECTIONS:  # built once per worker at start-up: the running ones stay
        if getattr(new, section, None) != getattr(running, section, None):
            restart.append(section)
            kept[section] = getattr(running, section, None)
    new_db = new.state.database_url if new.state else None
    old_db = running.state.database_url if running.state else None
    state = new.state
    if new_db != old_db:
        restart.append("state.database_url")
        state = msgspec.structs.replace(new.state, database_url=old_db) if new.state else running.state
    merged = msgspec.structs.replace(new, server=server, state=state, **kept)
    return merged, Outcome(ok=True, restart_needed=restart)


# ---------------------------------------------------------------------------------------------- workers


def apply(app: Any, cfg: Config) -> None:
    """Swap a worker onto `cfg`: new providers, router and access check, assigned with no await between."""
    from gateway.app import build_providers, configure_logging, make_guard
    from gateway.auth import Guard, KeyTable
    from gateway.router import Router

    ctx = app.ctx
    providers = build_providers(cfg, ctx.http, getattr(ctx, "deadlines", None))
    router = Router(cfg, providers)
    old_guard = ctx.guard
    redis_old = ctx.config.state.redis_url if ctx.config.state else None
    redis_new = cfg.state.redis_url if cfg.state else None
    guard = None
    if old_guard is not None and redis_old == redis_new:
        if cfg.auth is not None or (cfg.state is not None and cfg.state.database_url):
            guard = Guard(cfg, KeyTable(cfg), old_guard.limiter, ctx.metrics, old_guard.budgets)
    # One step: nothing awaits between these assignments.
    ctx.config = cfg
    if guard is None:
        guard = make_guard(app, cfg)  # auth added, or Redis moved (the old limiter stays with old requests)
    ctx.providers = providers
    ctx.router = router
    ctx.guard = guard
    if getattr(ctx, "database", None) is not None:
        ctx.database.apply()  # the database keys join the new table
    ctx.openapi = None  # the /openapi.json cache
    configure_logging(cfg.server.log_level)


async def reload_worker(app: Any, decided_by_worker: bool) -> Outcome:
    """Load the file and, when valid, apply it to this worker. Only a reload this worker decided (the
    admin API) is counted here; the main process counts those it decides. Reading and validating run in a
    thread, so requests keep flowing meanwhile; only the swap runs on the event loop."""
    new, outcome = await asyncio.to_thread(load_again, app.ctx.config)
    if new is None:
        for problem in outcome.problems:
            log.error("config reload refused: %s", problem)
        if decided_by_worker:
            count("failure")
        return outcome
    apply(app, new)
    if decided_by_worker:
        count("success")
    for field in outcome.restart_needed:
        log.warning("config reload: %s changed; it takes effect on restart", field)
    return outcome


async def admin_reload(app: Any) -> Outcome:
    """POST /admin/api/reload: this worker decides, then tells the others through the generation."""
    outcome = await reload_worker(app, decided_by_worker=True)
    if outcome.ok:
        generation = getattr(app.shared_ctx, "config_generation", None)
        if generation is not None:
            with generation.get_lock():
                generation.value += 1
                app.ctx.config_generation = generation.value
        log.info("config reloaded from %s (admin API)", app.ctx.config.source)
    return outcome


async def follow(app: Any) -> None:
    """Each worker: apply the config again whenever the shared generation moves."""
    generation = getattr(app.shared_ctx, "config_generation", None)
    if generation is None:
        return
    while True:
        await asyncio.sleep(POLL_SECONDS / 2)
        current = generation.value
        if current != app.ctx.config_generation:
            app.ctx.config_generation = current
            outcome = await reload_worker(app, decided_by_worker=False)
            if outcome.ok:
                log.info("worker %d: config reloaded (generation %d)", os.getpid(), current)


# ---------------------------------------------------------------------------------------------- main process


class Watcher:
    """In the main process: a thread that reloads on SIGHUP and, with `server.watch_config`, when the
    file's identity changes and its content differs."""

    def __init__(self, cfg: Config, generation: Any) -> None:
        self.cfg = cfg
        self.generation = generation
        self.path = file_of(cfg)
        self.signature = signature(self.path) if self.path else None
        self.digest = digest(self.path) if self.path else None
        self.hup = threading.Event()
        self.stopped = threading.Event()

    def start(self) -> None:
        for result in ("success", "failure"):  # both series exist (at 0) from the start
            _reloads().labels(result)
        signal.signal(signal.SIGHUP, lambda *_: self.hup.set())
        threading.Thread(target=self._run, name="llm-link-config-watch", daemon=True).start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            hup = self.hup.wait(POLL_SECONDS)
            self.hup.clear()
            try:
                if hup:
                    self.check(forced=True)
                elif self.cfg.server.watch_config and self.path:
                    self.check(forced=False)
            except Exception:  # the watch must outlive anything a reload throws
                log.exception("config watch")

    def check(self, forced: bool) -> Outcome | None:
        if self.path is not None and not forced:
            sig = signature(self.path)
            if sig is None or sig == self.signature:
                return None  # unchanged, or mid-swap (the next poll sees the new file)
            self.signature = sig
            if digest(self.path) == self.digest:
                return None
        new, outcome = load_again(self.cfg)
        if new is None:
            for problem in outcome.problems:
                log.error("config reload refused, keeping the running config: %s", problem)
            count("failure")
            return outcome
        self.cfg = new
        if self.path is not None:
            self.signature = signature(self.path)
            self.digest = digest(self.path)
        with self.generation.get_lock():
            self.generation.value += 1
        count("success")
        log.info("config reloaded from %s (%s)", self.path, "SIGHUP" if forced else "file changed")
        return outcome


def install(app: Any) -> None:
    """The hooks: a shared generation and the watcher in the main process, a follower in each worker."""

    @app.main_process_start
    async def share_generation(app: Any) -> None:
        app.shared_ctx.config_generation = multiprocessing.Value("q", 0)

    @app.main_process_ready
    async def start_watcher(app: Any) -> None:
        Watcher(app.ctx.config, app.shared_ctx.config_generation).start()

    @app.before_server_start
    async def start_following(app: Any) -> None:
        # This worker starts on the start-up config, generation 0; a worker started after a reload (a
        # replacement for one that died) sees the generation ahead and loads the file at once.
        app.ctx.config_generation = 0
        app.add_task(follow(app), name="llm_link_config_follow")
        try:  # a SIGHUP sent to the whole process group must not kill a worker
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: None)
        except (NotImplementedError, RuntimeError):
            pass
