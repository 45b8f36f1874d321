"""The database behind keys and usage: `state.database_url` names SQLite (embedded, the default
kind) or PostgreSQL (for many replicas). Both backends offer the same async `Store` (gateway.store.base)."""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import Store, StoreError


def sqlite_path(url: str) -> str:
    """`sqlite:///rel/path` is relative to the working directory, `sqlite:////abs/path` absolute (the
    SQLAlchemy convention); `sqlite:///:memory:` is refused (each worker would see its own database)."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or len(rest) < 2:
        raise StoreError(f"expected sqlite:///relative/path or sqlite:////absolute/path, got {url!r}")
    path = rest[1:]
    if path == ":memory:":
        raise StoreError("sqlite:///:memory: cannot be shared by workers; give a file path")
    return str(Path(path))


def check_url(url: str) -> str | None:
    """The problem with a database URL, or None (used by config validation)."""
    if url.startswith("sqlite://"):
        try:
            sqlite_path(url)
        except StoreError as err:
            return str(err)
        return None
    if url.startswith(("postgresql://", "postgres://")):
        return None
    return "expected sqlite:///path or postgresql://user:password@host/db"


def open_store(url: str) -> Store:
    """A store for `url`, not yet connected (call `await store.open()`)."""
    problem = check_url(url)
    if problem is not None:
        raise StoreError(problem)
    if url.startswith("sqlite://"):
        from gateway.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url))
    from gateway.store.postgres import PostgresStore

    return PostgresStore(url)


__all__ = ["Store", "StoreError", "check_url", "open_store", "sqlite_path"]
