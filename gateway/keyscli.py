"""`llm-link keys create | list | update | rotate | revoke`: database keys from the command line,
straight to the database of `state.database_url`. The secret goes alone to stdout (so
`KEY=$(llm-link keys create --name ci)` works) and only from create and rotate; everything else is on
stderr or, with --json, one JSON document on stdout."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import msgspec
import orjson

from gateway.config import Config, ConfigError, load
from gateway.store import open_store
from gateway.store.base import KeyRow, StoreError
from gateway.store.keys import Budget, KeyFieldError, KeyFields, check_name, columns, create, rotate, view, yaml_view


def _limit(text: str) -> int | None:
    if text.lower() in ("none", "null", "off"):
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1 (or `none` for no limit)")
    return value


def _usd(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "off") else float(text)


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        nargs="+",
        action="extend",
        metavar="GLOB",
        help="models the key may use (globs); default every model",
    )
    p.add_argument("--all-models", action="store_true", help="allow every model again (update)")
    p.add_argument("--rpm", type=_limit, default=msgspec.UNSET, help="requests per minute (`none` clears)")
    p.add_argument("--tpm", type=_limit, default=msgspec.UNSET, help="tokens per minute (`none` clears)")
    p.add_argument("--max-concurrency", type=_limit, default=msgspec.UNSET, help="requests at once")
    p.add_argument("--monthly-tokens", type=_limit, default=msgspec.UNSET, help="tokens per calendar month")
    p.add_argument("--budget-usd", type=_usd, default=msgspec.UNSET, help="dollars per --period (`none` clears)")
    p.add_argument("--period", choices=["day", "month"], default=None, help="budget period (default month)")
    p.add_argument("--expires", default=msgspec.UNSET, help="ISO 8601 date or time (UTC), or `none`")


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="manage the database's gateway keys")
    actions = keys.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("create", "a new key; prints its secret once"),
        ("list", "names, limits, created / last used; never a secret"),
        ("update", "change a key's models, limits, budget or expiry"),
        ("rotate", "a new secret for a key; prints it once"),
        ("revoke", "the key stops working (401) within 2 s everywhere"),
    ):
        p = actions.add_parser(name, help=help_text)
        p.add_argument("-c", "--config", help="config file (as for `serve`); its state.database_url is used")
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")
        if name == "create":
            p.add_argument("--name", required=True)
        elif name != "list":
            p.add_argument("name")
        if name in ("create", "update"):
            _options(p)


def _fields(args: argparse.Namespace) -> KeyFields:
    fields = KeyFields()
    if getattr(args, "all_models", False):
        fields.models = None
    elif args.models:
        fields.models = list(args.models)
    for field in ("rpm", "tpm", "max_concurrency", "monthly_tokens"):
        setattr(fields, field, getattr(args, field))
    if args.budget_usd is not msgspec.UNSET:
        usd = args.budget_usd
        fields.budget = None if usd is None else Budget(usd=usd, period=args.period or "month")
    elif args.period is not None:
        raise KeyFieldError("--period goes with --budget-usd")
    if args.expires is not msgspec.UNSET:
        fields.expires_at = None if args.expires.lower() in ("none", "never") else args.expires
    return fields


def _err(message: str) -> int:
    print(f"llm-link: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load(args.config)
    except ConfigError as err:
        print("llm-link: invalid configuration:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    url = cfg.state.database_url if cfg.state is not None else None
    if not url:
        return _err(f"{cfg.source}: state.database_url is not set (e.g. sqlite:///llm-link.db); keys live there")
    try:
        return asyncio.run(_run(args, cfg, url))
    except (StoreError, KeyFieldError) as err:
        return _err(str(err))


async def _run(args: argparse.Namespace, cfg: Config, url: str) -> int:
    yaml_names = {k.name: k for k in cfg.auth.keys} if cfg.auth is not None else {}
    name: str = getattr(args, "name", None) or ""
    if name and name in yaml_names and args.action != "list":
        return _err(f"the key {name!r} is defined in {cfg.source}; change it there")
    store = open_store(url)
    await store.open()
    try:
        if args.action == "list":
            rows = await store.list_keys()
            data = [yaml_view(k) for k in yaml_names.values()] + [view(r) for r in rows]
            if args.json:
                print(orjson.dumps({"data": data}).decode())
            else:
                _table(data)
            return 0
        row: KeyRow
        secret = None
        if args.action == "create":
            fields = _fields(args)
            fields.name = check_name(name)
            row, secret = await create(store, fields)
        elif args.action == "update":
            row = await store.update_key(name, columns(_fields(args)))
        elif args.action == "rotate":
            row, secret = await rotate(store, name)
        else:
            row = await store.revoke_key(name)
    finally:
        await store.close()
    if args.json:
        body = view(row)
        if secret is not None:
            body["key"] = secret
        print(orjson.dumps(body).decode())
    else:
        done = {"create": "created", "update": "updated", "rotate": "rotated", "revoke": "revoked"}[args.action]
        print(f"{done} key {row.name!r}: {_summary(view(row))}", file=sys.stderr)
        if secret is not None:
            print(secret)
            print("(the secret is shown only this once)", file=sys.stderr)
    return 0


def _summary(item: dict[str, Any]) -> str:
    parts = [f"models {','.join(item['models']) if item['models'] else '*'}"]
    for field in ("rpm", "tpm", "max_concurrency", "monthly_tokens"):
        if item.get(field) is not None:
            parts.append(f"{field} {item[field]}")
    if item.get("budget"):
        parts.append(f"budget ${item['budget']['usd']:g}/{item['budget']['period']}")
    if item.get("expires_at"):
        parts.append(f"expires {item['expires_at']}")
    return ", ".join(parts)


def _table(data: list[dict[str, Any]]) -> None:
    header = ("NAME", "SOURCE", "STATUS", "CREATED", "LAST USED", "SETTINGS")
    rows = [
        (
            d["name"],
            d["source"],
            "revoked" if d["revoked"] else "active",
            d.get("created_at") or "-",
            d.get("last_used_at") or "-",
            _summary(d),
        )
        for d in data
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + "  " + str(r[-1]))
