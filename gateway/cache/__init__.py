"""The exact response cache: off unless `cache:` is configured and a model says `cache: true`.

An entry is the unified Response (msgpack), so any dialect replays it, as one body or as a stream. Its key
is a hash of the resolved route (name, targets, settings) and the unified request without the fields that
do not change the answer (`stream`, `user`, metadata, ids), scoped to the gateway key unless
`cache.shared`. Serving is gateway.cache.serve; storage gateway.cache.backends."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from gateway.cache.backends import Backend, MemoryBackend, RedisBackend
from gateway.config import CacheConfig, Config
from gateway.router import Route
from unified.types import Request, Response

HEADER = "X-LLM-Link-Cache"
# Provider-specific body fields that label or route a request but do not change its answer.
_IGNORED_EXTRA = frozenset(
    {
        "metadata",
        "user",
        "store",
        "stream_options",
        "request_id",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "service_tier",
    }
)

_key_encoder = msgspec.json.Encoder(order="sorted")  # dict order must not split one request into two keys
_entry_encoder = msgspec.msgpack.Encoder()
_entry_decoder = msgspec.msgpack.Decoder(Response)


class ResponseCache:
    """One per worker (app.ctx.cache)."""

    def __init__(self, config: CacheConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.shared = config.shared
        self.max_entry_bytes = config.max_entry_bytes
        self._routes: dict[int, tuple[Any, bytes]] = {}  # id(route config) -> (config, its hash input)

    def key(self, key_name: str | None, route: Route, req: Request) -> str:
        extra = req.extra
        if extra:
            extra = {k: v for k, v in extra.items() if k not in _IGNORED_EXTRA} or None
        # droppable only names fields for the metric; the fields themselves are in the request or its extras
        asked = msgspec.structs.replace(req, model="", stream=False, user=None, extra=extra, droppable=())
        h = hashlib.blake2b(digest_size=20)
        h.update(b"" if self.shared else (key_name or "").encode() + b"\0")
        h.update(self._route_bytes(route))
        h.update(_key_encoder.encode(asked))
        return h.hexdigest()

    def _route_bytes(self, route: Route) -> bytes:
        """The route's name, targets and settings (defaults, overrides, system prefix change the answer),
        encoded once per route config: a reload that changes them makes new keys."""
        found = self._routes.get(id(route.config))
        if found is not None and found[0] is route.config:
            return found[1]
        targets = [t.label for t in route.targets]
        data = _key_encoder.encode([route.name, targets, route.config]) + b"\0"
        if len(self._routes) > 4096:
            self._routes.clear()
        self._routes[id(route.config)] = (route.config, data)
        return data

    async def get(self, key: str) -> Response | None:
        data = await self.backend.get(key)
        if data is None:
            return None
        try:
            return _entry_decoder.decode(data)
        except msgspec.DecodeError:  # written by another version: fetch afresh
            return None

    def encode(self, response: Response) -> bytes | None:
        """The entry for an answer, or None when it is larger than `max_entry_bytes`."""
        data = _entry_encoder.encode(response)
        return data if len(data) <= self.max_entry_bytes else None

    async def put(self, key: str, data: bytes) -> None:
        await self.backend.put(key, data)

    async def close(self) -> None:
        await self.backend.close()


def make_cache(cfg: Config) -> ResponseCache | None:
    c = cfg.cache
    if c is None:
        return None
    backend: Backend
    if c.backend == "redis":
        state = cfg.state
        assert state is not None and state.redis_url  # config validation
        backend = RedisBackend(state.redis_url, state.key_prefix, c.ttl)
    else:
        backend = MemoryBackend(c.ttl, c.max_entries)
    return ResponseCache(c, backend)


def policy(cache_control: str | None) -> str:
    """What the client's Cache-Control asks: `use` the cache, `refresh` (no-cache: fetch, then store) or
    `bypass` it (no-store: neither look nor store)."""
    if not cache_control:
        return "use"
    value = cache_control.lower()
    if "no-store" in value:
        return "bypass"
    if "no-cache" in value:
        return "refresh"
    return "use"
