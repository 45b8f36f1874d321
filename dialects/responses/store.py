"""Stored responses, for `previous_response_id` and `GET /v1/responses/{id}` (SPEC §6 `responses.store`).

A record is the response object as the client saw it plus the conversation that led to it (unified
messages, the answer included), so a follow-up replays the whole history to any upstream. `memory` keeps
records in the worker that answered (one process: with several workers a follow-up may land elsewhere);
`redis` shares them (`state.redis_url`). Records expire after `responses.ttl` seconds."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol

import msgspec

from unified.errors import GatewayError
from unified.types import Message

_history_encoder = msgspec.json.Encoder()
_history_decoder = msgspec.json.Decoder(list[Message])
MEMORY_LIMIT = 10_000  # records per worker; the oldest go first


class Stored(msgspec.Struct):
    response: msgspec.Raw
    history: msgspec.Raw


_record_decoder = msgspec.json.Decoder(Stored)


class ResponseStore(Protocol):
    async def get(self, response_id: str) -> tuple[bytes, list[Message]] | None: ...

    async def put(self, response_id: str, response: bytes, history: list[Message]) -> None: ...

    async def delete(self, response_id: str) -> bool: ...

    async def close(self) -> None: ...


def encode_record(response: bytes, history: list[Message]) -> bytes:
    return b'{"response":' + response + b',"history":' + _history_encoder.encode(history) + b"}"


def decode_record(data: bytes) -> tuple[bytes, list[Message]]:
    record = _record_decoder.decode(data)
    return bytes(record.response), _history_decoder.decode(record.history)


class MemoryStore:
    def __init__(self, ttl: float, limit: int = MEMORY_LIMIT) -> None:
        self.ttl = ttl
        self.limit = limit
        self.records: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, response_id: str) -> tuple[bytes, list[Message]] | None:
        found = self.records.get(response_id)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self.records[response_id]
            return None
        return decode_record(found[1])

    async def put(self, response_id: str, response: bytes, history: list[Message]) -> None:
        records = self.records
        records[response_id] = (time.monotonic() + self.ttl, encode_record(response, history))
        while len(records) > self.limit:
            records.popitem(last=False)

    async def delete(self, response_id: str) -> bool:
        return self.records.pop(response_id, None) is not None

    async def close(self) -> None:
        self.records.clear()


class RedisStore:
    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, decode_responses=False)
        self.prefix = f"{prefix}:resp:"
        self.ttl = max(1, int(ttl))

    async def get(self, response_id: str) -> tuple[bytes, list[Message]] | None:
        try:
            data = await self.redis.get(self.prefix + response_id)
        except Exception as err:
            raise GatewayError("api_error", f"response store unavailable: {type(err).__name__}", status=503) from None
        return decode_record(data) if data is not None else None

    async def put(self, response_id: str, response: bytes, history: list[Message]) -> None:
        try:
            await self.redis.set(self.prefix + response_id, encode_record(response, history), ex=self.ttl)
        except Exception as err:
            raise GatewayError("api_error", f"response store unavailable: {type(err).__name__}", status=503) from None

    async def delete(self, response_id: str) -> bool:
        try:
            return bool(await self.redis.delete(self.prefix + response_id))
        except Exception as err:
            raise GatewayError("api_error", f"response store unavailable: {type(err).__name__}", status=503) from None

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except Exception:
            pass
