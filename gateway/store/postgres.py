"""PostgreSQL backend (asyncpg, the `postgres` extra): a small pool per worker. Migrations take a
transaction-scoped advisory lock, so replicas starting together apply each step once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gateway.store import schema
from gateway.store.base import Store, StoreError

_PLACEHOLDER = re.compile(r"\?")
MIGRATION_LOCK = 0x6C6C6D6C  # "llml": any constant, shared by every llm-link on the database


def numbered(sql: str) -> str:
    """`?` placeholders (the portable queries in gateway.store.base) as PostgreSQL's $1, $2, ..."""
    n = 0

    def sub(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return _PLACEHOLDER.sub(sub, sql)


def _count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "UPDATE 1", "INSERT 0 1", "DELETE 3".
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresStore(Store):
    kind = "postgresql"
    day_sql = "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    hour_sql = "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00Z\"')"
    bucket_sql = "CAST(FLOOR((ts - ?::float8) / ?::float8) AS BIGINT)"  # a plain cast would round

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None
        self._sql: dict[str, str] = {}

    def _q(self, sql: str) -> str:
        q = self._sql.get(sql)
        if q is None:
            q = self._sql[sql] = numbered(sql)
        return q

    def _error(self, err: BaseException) -> StoreError:
        # Never the URL: it holds the password.
        return StoreError(f"database error (postgresql): {type(err).__name__}: {err}")

    async def open(self, migrate_to: int | None = None) -> None:
        try:
            import asyncpg
        except ImportError:
            raise StoreError("PostgreSQL needs the asyncpg package: pip install 'llm-link[postgres]'") from None
        try:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4, timeout=10, command_timeout=30)
            await self._migrate(schema.LATEST if migrate_to is None else migrate_to)
            self.is_open = True
        except StoreError:
            raise
        except Exception as err:
            raise self._error(err) from None

    async def _migrate(self, target: int) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS llm_link_schema (version INTEGER NOT NULL)")
            version = await conn.fetchval("SELECT version FROM llm_link_schema")
            if version is None:
                version = 0
                await conn.execute("INSERT INTO llm_link_schema (version) VALUES (0)")
            if version > schema.LATEST:
                raise StoreError(
                    f"the database schema is version {version}, newer than this llm-link ({schema.LATEST})"
                )
            for step in range(version, target):
                for sql in schema.POSTGRES[step]:
                    await conn.execute(sql)
                await conn.execute("UPDATE llm_link_schema SET version = $1", step + 1)

    async def close(self) -> None:
        self.is_open = False
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except Exception:
                pool.terminate()

    async def schema_version(self) -> int:
        rows = await self._fetch("SELECT version FROM llm_link_schema", ())
        return int(rows[0][0]) if rows else 0

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._pool is None:
            raise StoreError("the database is closed")
        try:
            async with self._pool.acquire() as conn:
                return [tuple(r) for r in await conn.fetch(self._q(sql), *args)]
        except Exception as err:
            raise self._error(err) from None

    async def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], many_first: int = 0) -> list[int]:
        if self._pool is None:
            raise StoreError("the database is closed")
        counts: list[int] = []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if many_first:
                    await conn.executemany(self._q(statements[0][0]), [tuple(a) for _, a in statements[:many_first]])
                    counts.extend([1] * many_first)
                for sql, args in statements[many_first:]:
                    counts.append(_count(await conn.execute(self._q(sql), *args)))
        except Exception as err:
            raise self._error(err) from None
        return counts
