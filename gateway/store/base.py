"""What both database backends share: the key row, the usage row, and every query written once in portable
SQL (`?` placeholders; the PostgreSQL backend numbers them). A backend supplies only connections,
transactions, the schema (gateway.store.schema) and a few dialect expressions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec
import orjson

from gateway.store import schema

KEY_COLUMNS = (
    "id",
    "name",
    "key_sha256",
    "hint",
    "models",
    "rpm",
    "tpm",
    "max_concurrency",
    "monthly_tokens",
    "budget_usd",
    "budget_period",
    "expires_at",
    "created_at",
    "updated_at",
    "last_used_at",
    "revoked_at",
)
# Fields a caller may set on create and update (the secret, times and id are the store's).
SETTABLE = (
    "models",
    "rpm",
    "tpm",
    "max_concurrency",
    "monthly_tokens",
    "budget_usd",
    "budget_period",
    "expires_at",
)
USAGE_COLUMNS = (
    "ts",
    "request_id",
    "key_name",
    "model",
    "provider",
    "dialect",
    "status",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "duration_ms",
    "ttft_ms",
)
GROUPS = ("key", "model", "provider", "day", "hour")

# One usage row, in USAGE_COLUMNS order.
UsageRow = tuple[
    float, str, str | None, str | None, str | None, str, int, int, int, int, float | None, float, float | None
]


class StoreError(Exception):
    """The database cannot be reached or used; the message is safe to show (no URL, no password)."""


class KeyExists(StoreError):
    pass


class KeyNotFound(StoreError):
    pass


class KeyRow(msgspec.Struct, kw_only=True):
    """A key as stored: the secret only as its sha256, plus a short hint to tell keys apart."""

    id: int = 0
    name: str
    key_sha256: str
    hint: str = ""
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    monthly_tokens: int | None = None
    budget_usd: float | None = None
    budget_period: str | None = None
    expires_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    last_used_at: float | None = None
    revoked_at: float | None = None

    @classmethod
    def from_db(cls, row: Sequence[Any]) -> KeyRow:
        values = dict(zip(KEY_COLUMNS, row))
        if values["models"] is not None:
            values["models"] = orjson.loads(values["models"])
        return cls(**values)


def _db_value(field: str, value: Any) -> Any:
    if field == "models" and value is not None:
        return orjson.dumps(list(value)).decode()
    return value


class Store:
    """The async interface the gateway, the admin API and the CLI use. Backends implement the five
    primitives at the bottom."""

    kind = "?"
    is_open = False  # set by open(): connected and migrated
    day_sql = "?"  # SQL for the UTC day (YYYY-MM-DD) of the `ts` column
    hour_sql = "?"  # and its UTC hour (YYYY-MM-DDTHH:00Z), for charts over a day
    bucket_sql = "?"  # the whole number of `step`s (2nd arg) from a start (1st arg) to `ts`, rounded down

    # ------------------------------------------------------------------ keys

    async def keys_version(self) -> int:
        rows = await self._fetch("SELECT value FROM llm_link_meta WHERE name = 'keys_version'", ())
        return int(rows[0][0]) if rows else 0

    async def list_keys(self, include_revoked: bool = True) -> list[KeyRow]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self._fetch(f"SELECT {', '.join(KEY_COLUMNS)} FROM llm_link_keys{where} ORDER BY name", ())
        return [KeyRow.from_db(r) for r in rows]

    async def get_key(self, name: str) -> KeyRow:
        rows = await self._fetch(f"SELECT {', '.join(KEY_COLUMNS)} FROM llm_link_keys WHERE name = ?", (name,))
        if not rows:
            raise KeyNotFound(f"no key named {name!r}")
        return KeyRow.from_db(rows[0])

    async def create_key(self, row: KeyRow) -> KeyRow:
        """Insert a new key; a revoked key of the same name is replaced, a live one is a KeyExists."""
        now = time.time()
        row.created_at = row.updated_at = now
        cols = [c for c in KEY_COLUMNS if c != "id"]
        values = tuple(_db_value(c, getattr(row, c)) for c in cols)
        counts = await self._run(
            [
                ("DELETE FROM llm_link_keys WHERE name = ? AND revoked_at IS NOT NULL", (row.name,)),
                (
                    f"INSERT INTO llm_link_keys ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                    "ON CONFLICT (name) DO NOTHING",
                    values,
                ),
                (schema.BUMP_VERSION, ()),
            ]
        )
        if counts[1] != 1:
            raise KeyExists(f"a key named {row.name!r} already exists")
        return await self.get_key(row.name)

    async def update_key(self, name: str, fields: dict[str, Any]) -> KeyRow:
        """Change the settable fields given (None clears a limit); a revoked key cannot be changed."""
        sets = [f for f in fields if f in SETTABLE]
        args = [_db_value(f, fields[f]) for f in sets]
        sql = f"UPDATE llm_link_keys SET {''.join(f'{f} = ?, ' for f in sets)}updated_at = ? "
        sql += "WHERE name = ? AND revoked_at IS NULL"
        counts = await self._run([(sql, (*args, time.time(), name)), (schema.BUMP_VERSION, ())])
        if counts[0] != 1:
            raise KeyNotFound(f"no live key named {name!r}")
        return await self.get_key(name)

    async def set_secret(self, name: str, key_sha256: str, hint: str) -> KeyRow:
        counts = await self._run(
            [
                (
                    "UPDATE llm_link_keys SET key_sha256 = ?, hint = ?, updated_at = ? "
                    "WHERE name = ? AND revoked_at IS NULL",
                    (key_sha256, hint, time.time(), name),
                ),
                (schema.BUMP_VERSION, ()),
            ]
        )
        if counts[0] != 1:
            raise KeyNotFound(f"no live key named {name!r}")
        return await self.get_key(name)

    async def revoke_key(self, name: str) -> KeyRow:
        now = time.time()
        counts = await self._run(
            [
                (
                    "UPDATE llm_link_keys SET revoked_at = ?, updated_at = ? WHERE name = ? AND revoked_at IS NULL",
                    (now, now, name),
                ),
                (schema.BUMP_VERSION, ()),
            ]
        )
        if counts[0] != 1:
            raise KeyNotFound(f"no live key named {name!r}")
        return await self.get_key(name)

    # ------------------------------------------------------------------ usage

    async def write_usage(self, rows: Sequence[UsageRow]) -> None:
        """One transaction per batch: the rows, and each key's last use (not bumping the keys version:
        last use is not something workers need to see)."""
        if not rows:
            return
        last: dict[str, float] = {}
        for r in rows:
            if r[2] is not None and r[0] > last.get(r[2], 0.0):
                last[r[2]] = r[0]
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                f"INSERT INTO llm_link_usage ({', '.join(USAGE_COLUMNS)}) VALUES ({', '.join('?' * len(USAGE_COLUMNS))})",
                r,
            )
            for r in rows
        ]
        statements.extend(
            (
                "UPDATE llm_link_keys SET last_used_at = ? WHERE name = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (ts, name, ts),
            )
            for name, ts in last.items()
        )
        await self._run(statements, many_first=len(rows))

    async def usage_summary(
        self, start: float | None, end: float | None, group_by: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Sums per group (any of key, model, provider, day, hour) over [start, end)."""
        exprs = {
            "key": "key_name",
            "model": "model",
            "provider": "provider",
            "day": self.day_sql,
            "hour": self.hour_sql,
        }
        cols = [exprs[g] for g in group_by]
        where: list[str] = []
        args: list[Any] = []
        if start is not None:
            where.append("ts >= ?")
            args.append(float(start))
        if end is not None:
            where.append("ts < ?")
            args.append(float(end))
        select = [*(f"{c} AS g{i}" for i, c in enumerate(cols))]
        select += [
            "COUNT(*)",
            "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
            "SUM(input_tokens)",
            "SUM(output_tokens)",
            "SUM(cached_tokens)",
            "SUM(cost_usd)",
            "SUM(duration_ms)",
        ]
        sql = f"SELECT {', '.join(select)} FROM llm_link_usage"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if cols:
            groups = ", ".join(f"g{i}" for i in range(len(cols)))
            sql += f" GROUP BY {groups} ORDER BY {groups}"
        out = []
        for row in await self._fetch(sql, tuple(args)):
            n = len(cols)
            requests = int(row[n] or 0)
            if not requests:
                continue
            item: dict[str, Any] = {g: row[i] for i, g in enumerate(group_by)}
            item.update(
                requests=requests,
                errors=int(row[n + 1] or 0),
                input_tokens=int(row[n + 2] or 0),
                output_tokens=int(row[n + 3] or 0),
                cached_tokens=int(row[n + 4] or 0),
                cost_usd=round(float(row[n + 5] or 0.0), 9),
                avg_duration_ms=round(float(row[n + 6] or 0.0) / requests, 3),
            )
            out.append(item)
        return out

    async def usage_points(self, start: float, limit: int, every: int = 1) -> list[tuple[Any, ...]]:
        """Up to `limit` rows since `start` as (ts, key, model, provider, status, cost_usd, duration_ms,
        ttft_ms), newest first: the raw points the dashboard's per-minute series are cut from. `every` > 1
        takes one row in `every` (by id: an even sample across the window, for the percentiles of a busy
        window; its exact counts come from usage_buckets)."""
        sample = " AND id % ? = 0" if every > 1 else ""
        args: tuple[Any, ...] = (float(start), int(every), int(limit)) if every > 1 else (float(start), int(limit))
        return await self._fetch(
            "SELECT ts, key_name, model, provider, status, cost_usd, duration_ms, ttft_ms FROM llm_link_usage "
            f"WHERE ts >= ?{sample} ORDER BY ts DESC LIMIT ?",
            args,
        )

    async def usage_count_since(self, start: float) -> int:
        rows = await self._fetch("SELECT COUNT(*) FROM llm_link_usage WHERE ts >= ?", (float(start),))
        return int(rows[0][0])

    async def usage_buckets(self, start: float, step: int, group: str) -> list[tuple[Any, ...]]:
        """Exact (bucket, group, requests, errors, cost) since `start` in buckets of `step` seconds (bucket 0
        starts at `start`); `group` is key_name, model or provider."""
        assert group in ("key_name", "model", "provider")
        sql = (
            f"SELECT {self.bucket_sql} AS b, {group} AS g, COUNT(*), "
            "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(cost_usd) "
            "FROM llm_link_usage WHERE ts >= ? GROUP BY b, g"
        )
        return await self._fetch(sql, (float(start), float(step), float(start)))

    async def count_usage(self) -> int:
        rows = await self._fetch("SELECT COUNT(*) FROM llm_link_usage", ())
        return int(rows[0][0])

    async def delete_usage_before(self, ts: float, limit: int) -> int:
        """At most `limit` rows older than `ts`, oldest first: retention runs in bounded batches so memory
        and lock time stay flat however much is due."""
        counts = await self._run(
            [
                (
                    "DELETE FROM llm_link_usage WHERE id IN "
                    "(SELECT id FROM llm_link_usage WHERE ts < ? ORDER BY ts LIMIT ?)",
                    (float(ts), int(limit)),
                )
            ]
        )
        return counts[0]

    # ------------------------------------------------------------------ backend primitives

    async def open(self, migrate_to: int | None = None) -> None:
        """Connect and bring the schema up to `migrate_to` (default: the latest)."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def schema_version(self) -> int:
        raise NotImplementedError

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], many_first: int = 0) -> list[int]:
        """Run statements in one transaction; the affected row counts. The first `many_first` statements
        share one SQL text (a batch insert) and may be sent as one executemany."""
        raise NotImplementedError
