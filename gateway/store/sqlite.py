"""SQLite backend: the standard library's sqlite3 on one thread per process (the event loop never waits on
disk). WAL mode lets readers run beside the one writer; `busy_timeout` makes the workers of a gateway (and
the CLI) queue for the write lock instead of failing. Writes use BEGIN IMMEDIATE, so a transaction that
will write takes the lock up front and never deadlocks upgrading from a read."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.store import schema
from gateway.store.base import Store, StoreError

BUSY_TIMEOUT_MS = 10000


class SqliteStore(Store):
    kind = "sqlite"
    day_sql = "strftime('%Y-%m-%d', ts, 'unixepoch')"
    hour_sql = "strftime('%Y-%m-%dT%H:00Z', ts, 'unixepoch')"
    bucket_sql = "CAST((ts - ?) / ? AS INTEGER)"  # truncates: rows are at or after the start

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-link-sqlite")

    async def _call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except sqlite3.Error as err:
            raise StoreError(f"database error (sqlite {self.path}): {err}") from None

    def _connect(self) -> None:
        if self._db is not None:
            return
        parent = Path(self.path).parent
        if not parent.exists():
            parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes; WAL keeps it consistent
        self._db = db

    def _migrate(self, target: int) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS llm_link_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM llm_link_schema").fetchone()
            version = row[0] if row else 0
            if row is None:
                db.execute("INSERT INTO llm_link_schema (version) VALUES (0)")
            if version > schema.LATEST:
                raise sqlite3.DatabaseError(
                    f"the database schema is version {version}, newer than this llm-link ({schema.LATEST})"
                )
            for step in range(version, target):
                for sql in schema.SQLITE[step]:
                    db.execute(sql)
                db.execute("UPDATE llm_link_schema SET version = ?", (step + 1,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def open(self, migrate_to: int | None = None) -> None:
        await self._call(self._connect)
        await self._call(self._migrate, schema.LATEST if migrate_to is None else migrate_to)
        self.is_open = True

    async def close(self) -> None:
        self.is_open = False
        if self._db is not None:
            db, self._db = self._db, None
            await self._call(db.close)
        self._pool.shutdown(wait=False)

    async def schema_version(self) -> int:
        rows = await self._fetch("SELECT version FROM llm_link_schema", ())
        return int(rows[0][0]) if rows else 0

    def _fetch_sync(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._db is None:
            raise sqlite3.OperationalError("the database is closed")
        return self._db.execute(sql, tuple(args)).fetchall()

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        result: list[tuple[Any, ...]] = await self._call(self._fetch_sync, sql, args)
        return result

    def _run_sync(self, statements: Sequence[tuple[str, Sequence[Any]]], many_first: int) -> list[int]:
        db = self._db
        if db is None:
            raise sqlite3.OperationalError("the database is closed")
        counts: list[int] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            if many_first:
                db.executemany(statements[0][0], [tuple(a) for _, a in statements[:many_first]])
                counts.extend([1] * many_first)
            for sql, args in statements[many_first:]:
                counts.append(db.execute(sql, tuple(args)).rowcount)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return counts

    async def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], many_first: int = 0) -> list[int]:
        result: list[int] = await self._call(self._run_sync, statements, many_first)
        return result
