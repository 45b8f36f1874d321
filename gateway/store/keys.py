"""Database keys: the fields a caller may set (checked the same way for the CLI and the admin API), the
secret (minted here, shown once, stored as its sha256), the JSON view of a key (never a secret), and the
per-worker cache that follows the database by polling one version row."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
import time
import typing
from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway.config import KeyConfig
from gateway.store.base import KeyRow, Store

log = logging.getLogger("llm_link")

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # names become metric labels: short and plain
SECRET_PREFIX = "llk_"
POLL_SECONDS = 1.0  # a change reaches every worker within this plus one query


class KeyFieldError(ValueError):
    """A field a caller gave is wrong; the message names it."""


class Budget(msgspec.Struct, forbid_unknown_fields=True):
    usd: float
    period: str = "month"


class KeyFields(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A create or update request: every field optional on update; `null` clears a limit."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    rpm: int | msgspec.UnsetType | None = msgspec.UNSET
    tpm: int | msgspec.UnsetType | None = msgspec.UNSET
    max_concurrency: int | msgspec.UnsetType | None = msgspec.UNSET
    monthly_tokens: int | msgspec.UnsetType | None = msgspec.UNSET
    budget: Budget | msgspec.UnsetType | None = msgspec.UNSET
    expires_at: str | float | msgspec.UnsetType | None = msgspec.UNSET


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise KeyFieldError("name: 1-64 characters, letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def parse_time(value: str | float) -> float:
    """An ISO 8601 date or time (UTC unless it says otherwise), or epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KeyFieldError(f"expected an ISO 8601 date or time, got {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def columns(fields: KeyFields) -> dict[str, Any]:
    """The store columns for the fields that were given, validated."""
    out: dict[str, Any] = {}
    if fields.models is not msgspec.UNSET:
        models = fields.models
        if models is not None:
            if not models or any(not isinstance(p, str) or not p or len(p) > 200 for p in models) or len(models) > 100:
                raise KeyFieldError("models: a list of 1-100 non-empty glob patterns (omit or null for every model)")
        out["models"] = models
    for name in ("rpm", "tpm", "max_concurrency", "monthly_tokens"):
        value = getattr(fields, name)
        if value is msgspec.UNSET:
            continue
        if value is not None and value < 1:
            raise KeyFieldError(f"{name}: must be >= 1 (null for no limit)")
        out[name] = value
    if fields.budget is not msgspec.UNSET:
        budget = fields.budget
        if budget is None:
            out["budget_usd"] = out["budget_period"] = None
        else:
            if not budget.usd > 0:
                raise KeyFieldError("budget.usd: must be > 0")
            if budget.period not in ("day", "month"):
                raise KeyFieldError("budget.period: expected day or month")
            out["budget_usd"], out["budget_period"] = float(budget.usd), budget.period
    if fields.expires_at is not msgspec.UNSET:
        out["expires_at"] = None if fields.expires_at is None else parse_time(fields.expires_at)
    return out


def mint() -> tuple[str, str, str]:
    """A new secret: (the secret, its sha256 hex, a hint of its first characters)."""
    secret = SECRET_PREFIX + base64.b32encode(secrets.token_bytes(25)).decode().lower()
    return secret, hashlib.sha256(secret.encode()).hexdigest(), secret[:8]


async def create(store: Store, fields: KeyFields) -> tuple[KeyRow, str]:
    if fields.name is msgspec.UNSET or not isinstance(fields.name, str):
        raise KeyFieldError("name: required")
    row_fields = columns(fields)
    secret, digest, hint = mint()
    row = KeyRow(name=check_name(fields.name), key_sha256=digest, hint=hint, **row_fields)
    return await store.create_key(row), secret


async def rotate(store: Store, name: str) -> tuple[KeyRow, str]:
    secret, digest, hint = mint()
    return await store.set_secret(name, digest, hint), secret


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def view(row: KeyRow) -> dict[str, Any]:
    """A database key as the admin API and `keys list` show it: never the secret or its hash."""
    return {
        "name": row.name,
        "source": "database",
        "key_hint": row.hint + "…",
        "models": row.models,
        "rpm": row.rpm,
        "tpm": row.tpm,
        "max_concurrency": row.max_concurrency,
        "monthly_tokens": row.monthly_tokens,
        "budget": None if row.budget_usd is None else {"usd": row.budget_usd, "period": row.budget_period},
        "expires_at": iso(row.expires_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "last_used_at": iso(row.last_used_at),
        "revoked": row.revoked_at is not None,
        "revoked_at": iso(row.revoked_at),
    }


def yaml_view(k: KeyConfig) -> dict[str, Any]:
    """A key from the config file (read-only from outside)."""
    budget = getattr(k, "budget", None)
    return {
        "name": k.name,
        "source": "config",
        "models": k.models,
        "rpm": k.rpm,
        "tpm": k.tpm,
        "max_concurrency": k.max_concurrency,
        "monthly_tokens": k.monthly_tokens,
        "budget": msgspec.to_builtins(budget) if budget is not None else None,
        "revoked": False,
    }


_KEYCONFIG_FIELDS = set(KeyConfig.__struct_fields__)


def key_config(row: KeyRow) -> KeyConfig:
    """A live database key in the shape the access check (gateway.auth) is built from."""
    extra: dict[str, Any] = {}
    if row.budget_usd is not None and "budget" in _KEYCONFIG_FIELDS:  # budgets when this build has them
        budget = {"usd": row.budget_usd, "period": row.budget_period or "month"}
        extra["budget"] = msgspec.convert(budget, type=typing.get_type_hints(KeyConfig)["budget"])
    return KeyConfig(
        name=row.name,
        key_sha256=row.key_sha256,
        models=row.models,
        rpm=row.rpm,
        tpm=row.tpm,
        max_concurrency=row.max_concurrency,
        monthly_tokens=row.monthly_tokens,
        **extra,
    )


class KeyCache:
    """This worker's copy of the database keys. `refresh()` asks for the version row and reloads the keys
    only when it moved; `run()` does that every POLL_SECONDS, so a revocation is seen within ~1 s."""

    def __init__(self, store: Store, on_change: Any) -> None:
        self.store = store
        self.on_change = on_change  # called with the cache after each change
        self.version = -1
        self.rows: list[KeyRow] = []  # live keys
        self.ever = False  # the database has held a key (then keys are checked even without `auth:`)
        self.loaded = False
        self.failing = False

    async def refresh(self) -> bool:
        if not self.store.is_open:  # the database was away when this worker started
            await self.store.open()
        version = await self.store.keys_version()
        if version == self.version and self.loaded:
            return False
        rows = await self.store.list_keys(include_revoked=True)
        self.version = version
        self.ever = bool(rows)
        self.rows = [r for r in rows if r.revoked_at is None]
        self.loaded = True
        self.on_change(self)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.refresh()
                if self.failing:
                    log.warning("database reachable again: keys up to date (version %d)", self.version)
                    self.failing = False
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if not self.failing:
                    log.error("cannot refresh keys from the database (keeping the last ones): %s", err)
                    self.failing = True

    def expired(self, now: float | None = None) -> set[str]:
        now = time.time() if now is None else now
        return {r.name for r in self.rows if r.expires_at is not None and r.expires_at <= now}
