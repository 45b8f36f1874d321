"""The `llm-link` command: serve (the default), check, --version."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from functools import partial
from typing import Any

from gateway import __version__, keyscli
from gateway.config import Config, ConfigError, load


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-link", description="One gateway for OpenAI, Anthropic and Ollama clients."
    )
    parser.add_argument("--version", action="version", version=f"llm-link {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the gateway (default)")
    serve.add_argument("-c", "--config", help="config file (else $LLM_LINK_CONFIG, ./llm-link.yaml, built-in default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error", "critical"], type=str.lower)
    check = sub.add_parser("check", help="validate the config and print providers, models and routes")
    check.add_argument("-c", "--config")
    keyscli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in ("serve", "check", "keys") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "serve")
    args = _parser().parse_args(argv)
    if args.command == "keys":
        return keyscli.run(args)
    try:
        if args.command == "check":
            cfg = load(args.config)
            return check(cfg)
        cfg = load(
            args.config, {"host": args.host, "port": args.port, "workers": args.workers, "log_level": args.log_level}
        )
    except ConfigError as err:
        print("llm-link: invalid configuration:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    db_problem = _prepare_database(cfg)
    if db_problem is not None:
        print(f"llm-link: {db_problem}", file=sys.stderr)
        return 1
    serve(cfg)
    return 0


def _prepare_database(cfg: Config) -> str | None:
    """Create or migrate the database once, before any worker starts (gateway.store)."""
    if cfg.state is None or not cfg.state.database_url:
        return None
    import asyncio

    from gateway.store import StoreError
    from gateway.store.runtime import prepare

    try:
        asyncio.run(prepare(cfg))
    except StoreError as err:
        return f"state.database_url: {err}"
    return None


def check(cfg: Config) -> int:
    from gateway.router import Router
    from providers import registry

    providers = {n: registry.adapter_class(p)(n, p, cfg.provider_options(n), None) for n, p in cfg.providers.items()}
    router = Router(cfg, providers)
    print(f"config: {cfg.source}: OK")
    s = cfg.server
    print(f"server: {s.host}:{s.port}, {s.workers} worker(s), max body {s.max_body_bytes} bytes")
    print("providers:")
    for name, p in cfg.providers.items():
        print(f"  {name}: {p.type}" + (f" at {url}" if (url := getattr(providers[name], "base_url", "")) else ""))
    print("models:")
    for row in router.describe():
        targets = ", ".join(
            f"{label}" + (f" (weight {w:g})" if len(row["targets"]) > 1 else "") for label, w in row["targets"]
        )
        line = f"  {row['model']} -> {targets}"
        extras = []
        if row["fallbacks"]:
            extras.append(f"fallbacks {row['fallbacks']}")
        if row["affinity"]:
            extras.append(f"affinity: {row['affinity']}")
        if len(row["targets"]) > 1 or row["fallbacks"] or row["retries"] != 1:
            extras.append(f"retries {row['retries']}")
        for key in ("timeout", "first_token_timeout", "system_prefix"):
            if row[key]:
                extras.append(f"{key} {row[key]!r}")
        for key in ("defaults", "overrides"):
            if row[key]:
                extras.append(f"{key} {row[key]}")
        if row["headers"]:
            extras.append(f"headers {', '.join(row['headers'])}")  # names only: values may be secrets
        print(line + (f"  [{'; '.join(extras)}]" if extras else ""))
        for label, price in row["prices"]:
            print(f"      price {label}: {price}")
    for glob, target in cfg.aliases.items():
        print(f"alias: {glob} -> {target}")
    if cfg.default_model:
        print(f"default_model: {cfg.default_model}")
    print("pass-through: <provider>/<upstream-model> for providers " + ", ".join(cfg.providers))
    budgets = [k for k in (cfg.auth.keys if cfg.auth else []) if k.budget is not None]
    if budgets:
        print("budgets: " + ", ".join(f"{k.name} ${k.budget.usd:g}/{k.budget.period}" for k in budgets))  # type: ignore[union-attr]
    t = cfg.telemetry
    if t is not None and t.otlp_endpoint:
        print(
            f"traces: to {t.otlp_endpoint.rstrip('/')}/v1/traces as {t.service_name!r}, sample ratio {t.sample_ratio:g}"
            + (", with prompts and completions" if t.capture_content else "")
        )
    return 0


def _metrics_dir() -> str:
    """A fresh multiprocess directory per server instance, so two gateways on one host (or a restart)
    never mix or wipe each other's counts. Inside $PROMETHEUS_MULTIPROC_DIR when that is set."""
    parent = os.environ.get("LLM_LINK_METRICS_PARENT") or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
        os.environ["LLM_LINK_METRICS_PARENT"] = parent
    path = tempfile.mkdtemp(prefix="llm-link-metrics-", dir=parent)
    atexit.register(shutil.rmtree, path, True)
    return path


def serve(cfg: Config) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from gateway.app import create_app

    loader = AppLoader(factory=partial(create_app, cfg))
    app = loader.load()
    s = cfg.server
    # A listen backlog above Sanic's default of 100, so connection bursts queue instead of being reset.
    app.prepare(
        host=s.host, port=s.port, workers=s.workers, access_log=False, motd=False, single_process=False, backlog=1024
    )
    Sanic.serve(primary=app, app_loader=loader)


def entry() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    entry()
