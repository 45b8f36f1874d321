"""The database in a running gateway: each worker opens the store, follows the keys (gateway.store.keys),
records usage (gateway.store.usage) and plugs the database keys into the access check (gateway.auth)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gateway.auth import Key, KeyTable
from gateway.config import Config
from gateway.store import open_store
from gateway.store.base import Store
from gateway.store.keys import KeyCache, key_config
from gateway.store.usage import UsageRecorder

log = logging.getLogger("llm_link")

DB_KEY_SLOTS = 1024  # limiter slots for database keys in the shared table (by key id, modulo this)


def database_url(cfg: Config) -> str | None:
    return cfg.state.database_url if cfg.state is not None else None


def limit_slots(cfg: Config) -> int:
    """Slots of the in-process limiter table: room for the config's keys to grow on reload, plus the
    database keys'. (With Redis the table is only the fallback.)"""
    n_yaml = len(cfg.auth.keys) if cfg.auth is not None else 0
    return max(64, 2 * n_yaml) + (DB_KEY_SLOTS if database_url(cfg) else 0)


async def prepare(cfg: Config) -> None:
    """Before the workers start: create or migrate the schema once (raises StoreError)."""
    url = database_url(cfg)
    if url is None:
        return
    store = open_store(url)
    try:
        await store.open()
    finally:
        await store.close()


class Database:
    """One per worker (app.ctx.database)."""

    def __init__(self, app: Any, url: str, cfg: Config) -> None:
        self.app = app
        self.store: Store = open_store(url)
        self.keys = KeyCache(self.store, self._keys_changed)
        self.usage = UsageRecorder(self.store, cfg.state.usage_retention_days if cfg.state else 30.0)
        self._poll: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.store.open()
            await self.keys.refresh()
        except Exception as err:  # serve the config's keys meanwhile; the poll keeps trying
            log.error("cannot load keys from the database (config keys only until it answers): %s", err)
            self.keys.failing = True
        self.apply()
        self._poll = asyncio.create_task(self.keys.run(), name="llm_link_keys_poll")
        self.usage.start()

    def _keys_changed(self, cache: KeyCache) -> None:
        self.apply()

    def apply(self) -> None:
        """(Re)build the access check's key table from the running config plus the database keys. Called
        when keys change and after a config reload; the swap is one assignment, so a request sees either
        the old table or the new one."""
        guard = getattr(self.app.ctx, "guard", None)
        if guard is None:
            return
        cfg: Config = self.app.ctx.config
        slots = guard.limiter.local.slots
        base = max(0, slots - DB_KEY_SLOTS)
        span = max(1, slots - base)
        extra = []
        for row in self.keys.rows:
            key = Key(key_config(row), base + row.id % span)
            key.expires = row.expires_at
            extra.append(key)
        # Without `auth:`, checking starts once the database has held a key; while it has not answered
        # yet, it is assumed to (a key revoked there must not open the gateway while it is away).
        guard.table = KeyTable(cfg, extra, enforced=self.keys.ever or not self.keys.loaded)

    def record(self, call: Any) -> None:
        self.usage.record(call)

    async def stop(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poll
        await self.usage.close()
        await self.store.close()
