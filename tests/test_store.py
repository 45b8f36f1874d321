"""The key and usage database (gateway.store) on SQLite and on a real PostgreSQL server: migrations from
an empty database and from the previous schema, the key life cycle, usage sums, bounded retention, and the
per-worker key cache."""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.store import Store, open_store, schema, sqlite_path
from gateway.store.base import KeyExists, KeyNotFound, KeyRow
from gateway.store.keys import KeyCache, KeyFieldError, KeyFields, columns, create, mint, rotate, view


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='llm-link-db-')}/keys.db"
    pg: Any = request.getfixturevalue("pg_server")
    return str(pg.new_database())


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


def row(name: str, **fields: Any) -> KeyRow:
    _, digest, hint = mint()
    return KeyRow(name=name, key_sha256=digest, hint=hint, **fields)


def usage(ts: float, key: str | None = "a", model: str = "m", status: int = 200, **kw: Any) -> tuple[Any, ...]:
    return (
        ts,
        kw.get("rid", "r"),
        key,
        model,
        kw.get("provider", "p"),
        "openai",
        status,
        kw.get("tin", 1),
        kw.get("tout", 2),
        0,
        kw.get("cost"),
        10.0,
        kw.get("ttft"),
    )


def test_sqlite_urls_follow_sqlalchemy() -> None:
    assert sqlite_path("sqlite:///rel/llm-link.db") == "rel/llm-link.db"
    assert sqlite_path("sqlite:////abs/llm-link.db") == "/abs/llm-link.db"


async def test_migrates_an_empty_database_to_the_latest_schema(store: Store) -> None:
    assert await store.schema_version() == schema.LATEST
    assert await store.list_keys() == [] and await store.count_usage() == 0
    await store.open()  # opening again (another worker, the CLI) changes nothing
    assert await store.schema_version() == schema.LATEST


async def test_migrates_from_the_previous_schema_keeping_the_keys(store_url: str) -> None:
    old = open_store(store_url)
    await old.open(migrate_to=schema.LATEST - 1)
    assert await old.schema_version() == schema.LATEST - 1
    await old.create_key(row("kept", rpm=7))
    await old.close()

    new = open_store(store_url)
    await new.open()
    try:
        assert await new.schema_version() == schema.LATEST
        kept = await new.get_key("kept")
        assert kept.rpm == 7
        await new.write_usage([usage(time.time(), key="kept")])
        assert (await new.usage_summary(None, None, ["key"]))[0]["key"] == "kept"
        await new.write_usage([usage(time.time(), key="fast", ttft=12.5)])
        points = await new.usage_points(0.0, 10)
        assert points[0][1] == "fast" and points[0][7] == 12.5  # v3: time to first token kept per row
    finally:
        await new.close()


async def test_key_life_cycle(store: Store) -> None:
    v0 = await store.keys_version()
    created, secret = await create(store, KeyFields(name="team-a", models=["gpt-*"], rpm=10))
    assert secret.startswith("llk_") and created.hint == secret[:8]
    assert await store.keys_version() > v0  # every change moves the version the workers poll
    with pytest.raises(KeyExists):
        await create(store, KeyFields(name="team-a"))

    updated = await store.update_key("team-a", columns(KeyFields(rpm=None, tpm=500, expires_at="2030-01-02")))
    assert (updated.rpm, updated.tpm, updated.models) == (None, 500, ["gpt-*"])
    assert view(updated)["expires_at"] == "2030-01-02T00:00:00Z"

    rotated, new_secret = await rotate(store, "team-a")
    assert new_secret != secret and rotated.key_sha256 != created.key_sha256

    revoked = await store.revoke_key("team-a")
    assert revoked.revoked_at is not None and view(revoked)["revoked"] is True
    with pytest.raises(KeyNotFound):
        await store.revoke_key("team-a")
    with pytest.raises(KeyNotFound):
        await store.update_key("team-a", {"rpm": 1})
    assert [k.name for k in await store.list_keys(include_revoked=False)] == []
    again, _ = await create(store, KeyFields(name="team-a"))  # a revoked name can be given out again
    assert again.revoked_at is None


async def test_no_secret_in_a_key_view(store: Store) -> None:
    created, secret = await create(store, KeyFields(name="viewed"))
    shown = str(view(created))
    assert secret not in shown and created.key_sha256 not in shown


def test_bad_fields_are_named() -> None:
    with pytest.raises(KeyFieldError, match="rpm"):
        columns(KeyFields(rpm=0))
    with pytest.raises(KeyFieldError, match="models"):
        columns(KeyFields(models=[]))
    with pytest.raises(KeyFieldError, match=r"budget\.period"):
        from gateway.store.keys import Budget

        columns(KeyFields(budget=Budget(usd=5, period="week")))
    with pytest.raises(KeyFieldError, match="ISO 8601"):
        columns(KeyFields(expires_at="next tuesday"))


async def test_usage_sums_by_group_and_time_range(store: Store) -> None:
    day = 86400.0
    t0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    await store.write_usage(
        [
            usage(t0 + 10, key="a", model="m1", tin=10, tout=1, cost=0.5),
            usage(t0 + 20, key="a", model="m2", tin=5, tout=5, cost=0.25),
            usage(t0 + day + 5, key="b", model="m1", status=502, tin=0, tout=0),
            usage(t0 + 2 * day, key=None, model="m1"),
        ]
    )
    by_key = {r["key"]: r for r in await store.usage_summary(t0, t0 + 2 * day, ["key"])}
    assert set(by_key) == {"a", "b"}  # the end is exclusive
    assert by_key["a"]["requests"] == 2 and by_key["a"]["input_tokens"] == 15 and by_key["a"]["cost_usd"] == 0.75
    assert by_key["b"]["errors"] == 1
    days = [(r["day"], r["requests"]) for r in await store.usage_summary(None, None, ["day"])]
    assert days == [("2026-01-01", 2), ("2026-01-02", 1), ("2026-01-03", 1)]
    hours = [(r["hour"], r["requests"]) for r in await store.usage_summary(t0, t0 + day + 3600, ["hour"])]
    assert hours == [("2026-01-01T00:00Z", 2), ("2026-01-02T00:00Z", 1)]
    pairs = {(r["key"], r["model"]) for r in await store.usage_summary(t0, None, ["key", "model"])}
    assert pairs == {("a", "m1"), ("a", "m2"), ("b", "m1"), (None, "m1")}
    (total,) = await store.usage_summary(None, None, [])
    assert total["requests"] == 4


async def test_last_use_follows_usage_rows(store: Store) -> None:
    await create(store, KeyFields(name="user"))
    await store.write_usage([usage(1_800_000_000.0, key="user")])
    assert (await store.get_key("user")).last_used_at == 1_800_000_000.0


async def test_retention_deletes_old_rows_in_bounded_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.store import usage as usage_mod

    now = time.time()
    old = [usage(now - 40 * 86400 + i) for i in range(250)]
    recent = [usage(now - 86400 + i) for i in range(7)]
    await store.write_usage(old + recent)
    monkeypatch.setattr(usage_mod, "RETENTION_BATCH", 60)
    calls: list[int] = []
    real = store.delete_usage_before

    async def counted(ts: float, limit: int) -> int:
        n = await real(ts, limit)
        calls.append(n)
        assert n <= limit
        return n

    monkeypatch.setattr(store, "delete_usage_before", counted)
    recorder = usage_mod.UsageRecorder(store, retention_days=30)
    assert await recorder.enforce_retention() == 250
    assert max(calls) == 60 and len(calls) == 5  # 60+60+60+60+10: never all at once
    assert await store.count_usage() == 7


async def test_key_cache_sees_changes_and_remembers_that_keys_existed(store: Store) -> None:
    seen: list[int] = []
    cache = KeyCache(store, lambda c: seen.append(len(c.rows)))
    assert await cache.refresh() is True and cache.ever is False
    assert await cache.refresh() is False  # nothing moved: one query, no reload
    await create(store, KeyFields(name="k1"))
    assert await cache.refresh() is True and [r.name for r in cache.rows] == ["k1"]
    await store.revoke_key("k1")
    await cache.refresh()
    assert cache.rows == [] and cache.ever is True  # revoking the last key does not open the gateway
    assert seen == [0, 1, 0]


async def test_usage_buckets_count_exactly_and_points_sample_evenly(store: Store) -> None:
    """The dashboard's series of a busy window: exact per-bucket sums in SQL, an even sample of the rows."""
    start = 1_800_000_000.0
    rows = [usage(start + i * 6.0, model=f"m{i % 2}", status=502 if i % 10 == 0 else 200, cost=0.5) for i in range(40)]
    await store.write_usage(rows)  # 40 rows, 10 a minute, over 4 minutes
    buckets = sorted(await store.usage_buckets(start, 60, "model"))
    assert [(b, g, n) for b, g, n, _, _ in buckets] == [(b, m, 5) for b in range(4) for m in ("m0", "m1")]
    assert sum(e for *_, e, _ in buckets) == 4 and sum(c for *_, c in buckets) == 20.0
    assert sum(n for _, _, n, _, _ in await store.usage_buckets(start + 120, 60, "provider")) == 20
    assert await store.usage_count_since(start + 120) == 20
    sample = await store.usage_points(start, 1000, every=4)
    assert len(sample) == 10 and sample == sorted(sample, reverse=True)  # one in four, newest first
