"""The leaf layer both sides import: the unified request/response/event types (`unified.types`), dialect-
neutral errors, ids, media helpers, and the provider-facing interface (`unified.provider`). It imports
nothing from `gateway`, `dialects` or `providers`, so neither side depends on the other through it."""
