"""Schema migrations, numbered and run at start-up (and by `llm-link keys`) until the database is current.
Each backend has the same tables in its own DDL. A migration is never edited once released: a change is a
new entry at the end, so a database made by any earlier version moves forward step by step.

v1: keys, plus `llm_link_meta` (schema version, and `keys_version`, bumped by every key change so each
    worker can poll one row to learn that its key cache is stale).
v2: per-request usage rows, indexed by time for range sums and retention.
v3: the time to first token of each usage row (streams; NULL otherwise), for the dashboard's charts."""

from __future__ import annotations

BUMP_VERSION = "UPDATE llm_link_meta SET value = value + 1 WHERE name = 'keys_version'"

SQLITE: list[list[str]] = [
    [
        "CREATE TABLE llm_link_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO llm_link_meta (name, value) VALUES ('keys_version', 0)",
        """CREATE TABLE llm_link_keys (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            key_sha256 TEXT NOT NULL UNIQUE,
            hint TEXT NOT NULL DEFAULT '',
            models TEXT,
            rpm INTEGER, tpm INTEGER, max_concurrency INTEGER, monthly_tokens INTEGER,
            budget_usd REAL, budget_period TEXT,
            expires_at REAL,
            created_at REAL NOT NULL, updated_at REAL NOT NULL, last_used_at REAL, revoked_at REAL
        )""",
    ],
    [
        """CREATE TABLE llm_link_usage (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            request_id TEXT NOT NULL,
            key_name TEXT, model TEXT, provider TEXT, dialect TEXT NOT NULL,
            status INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            duration_ms REAL NOT NULL
        )""",
        "CREATE INDEX llm_link_usage_ts ON llm_link_usage (ts)",
    ],
    ["ALTER TABLE llm_link_usage ADD COLUMN ttft_ms REAL"],
]

POSTGRES: list[list[str]] = [
    [
        "CREATE TABLE llm_link_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        "INSERT INTO llm_link_meta (name, value) VALUES ('keys_version', 0)",
        """CREATE TABLE llm_link_keys (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            key_sha256 TEXT NOT NULL UNIQUE,
            hint TEXT NOT NULL DEFAULT '',
            models TEXT,
            rpm BIGINT, tpm BIGINT, max_concurrency BIGINT, monthly_tokens BIGINT,
            budget_usd DOUBLE PRECISION, budget_period TEXT,
            expires_at DOUBLE PRECISION,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            last_used_at DOUBLE PRECISION, revoked_at DOUBLE PRECISION
        )""",
    ],
    [
        """CREATE TABLE llm_link_usage (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ts DOUBLE PRECISION NOT NULL,
            request_id TEXT NOT NULL,
            key_name TEXT, model TEXT, provider TEXT, dialect TEXT NOT NULL,
            status INTEGER NOT NULL,
            input_tokens BIGINT NOT NULL DEFAULT 0, output_tokens BIGINT NOT NULL DEFAULT 0,
            cached_tokens BIGINT NOT NULL DEFAULT 0,
            cost_usd DOUBLE PRECISION,
            duration_ms DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX llm_link_usage_ts ON llm_link_usage (ts)",
    ],
    ["ALTER TABLE llm_link_usage ADD COLUMN ttft_ms DOUBLE PRECISION"],
]

LATEST = len(SQLITE)
assert len(POSTGRES) == LATEST
