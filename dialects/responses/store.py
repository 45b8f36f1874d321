"""Stored responses, for `previous_response_id` and `GET /v1/responses/{id}`.

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
MEMORY_BYTES = 256 * 2**20  # and at most this much stored per worker (long agent histories are large)


class Stored(msgspec.Struct):
    response: msgspec.Raw
    history: msgspec.Raw


class _Output(msgspec.Struct):
    output: list[msgspec.Raw] = []


class _Item(msgspec.Struct):
    id: str | None = None


_record_decoder = msgspec.json.Decoder(Stored)
_output_decoder = msgspec.json.Decoder(_Output)
_item_decoder = msgspec.json.Decoder(_Item)


def output_items(response: bytes) -> list[tuple[str, bytes]]:
    """(id, item JSON) of a response's output items, so `item_reference`s to them resolve later."""
    out = []
    for raw in _output_decoder.decode(response).output:
        item_id = _item_decoder.decode(raw).id
        if item_id:
            out.append((item_id, bytes(raw)))
    return out


class ResponseStore(Protocol):
    async def get(self, response_id: str) -> tuple[bytes, list[Message]] | None: ...

    async def put(self, response_id: str, response: bytes, history: list[Message]) -> None: ...

    async def delete(self, response_id: str) -> bool: ...

    async def get_items(self, ids: list[str]) -> dict[str, bytes]: ...

    async def close(self) -> None: ...


def encode_record(response: bytes, history: list[Message]) -> bytes:
    return b'{"response":' + response + b',"history":' + _history_encoder.encode(history) + b"}"


def decode_record(data: bytes) -> tuple[bytes, list[Message]]:
    record = _record_decoder.decode(data)
    return bytes(record.response), _history_decoder.decode(record.history)


class MemoryStore:
    """Records in insertion order, which is also expiry order (one TTL): the oldest go first when they
    expire, when there are more than `limit`, or when they hold more than `max_bytes`."""

    def __init__(self, ttl: float, limit: int = MEMORY_LIMIT, max_bytes: int = MEMORY_BYTES) -> None:
        self.ttl = ttl
        self.limit = limit
        self.max_bytes = max_bytes
        self.bytes = 0
        self.records: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # output items by id

    async def get(self, response_id: str) -> tuple[bytes, list[Message]] | None:
        found = self.records.get(response_id)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self.records[response_id]
            self.bytes -= len(found[1])
            return None
        return decode_record(found[1])

    async def put(self, response_id: str, response: bytes, history: list[Message]) -> None:
        now = time.monotonic()
        expires = now + self.ttl
        records = self.records
        record = encode_record(response, history)
        old = records.pop(response_id, None)
        if old is not None:
            self.bytes -= len(old[1])
        records[response_id] = (expires, record)
        self.bytes += len(record)
        while records and (
            len(records) > self.limit or self.bytes > self.max_bytes or next(iter(records.values()))[0] < now
        ):
            self.bytes -= len(records.popitem(last=False)[1][1])
        items = self.items
        for item_id, item in output_items(response):
            items[item_id] = (expires, item)
        while items and (len(items) > self.limit * 4 or next(iter(items.values()))[0] < now):
            items.popitem(last=False)

    async def get_items(self, ids: list[str]) -> dict[str, bytes]:
        now = time.monotonic()
        out = {}
        for item_id in ids:
            found = self.items.get(item_id)
            if found is not None and found[0] >= now:
                out[item_id] = found[1]
        return out

    async def delete(self, response_id: str) -> bool:
        found = self.records.pop(response_id, None)
        if found is None:
            return False
        self.bytes -= len(found[1])
        return True

    async def close(self) -> None:
        self.records.clear()


class RedisStore:
    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, decode_responses=False)
        self.prefix = f"{prefix}:resp:"
        self.item_prefix = f"{prefix}:resp-item:"
        self.ttl = max(1, int(ttl))

    async def get(self, response_id: str) -> tuple[bytes, list[Message]] | None:
        try:
            data = await self.redis.get(self.prefix + response_id)
        except Exception as err:
            raise GatewayError("api_error", f"response store unavailable: {type(err).__name__}", status=503) from None
        return decode_record(data) if data is not None else None

    async def put(self, response_id: str, response: bytes, history: list[Message]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(self.prefix + response_id, encode_record(response, history), ex=self.ttl)
                for item_id, item in output_items(response):
                    pipe.set(self.item_prefix + item_id, item, ex=self.ttl)
                await pipe.execute()
        except Exception as err:
            raise GatewayError("api_error", f"response store unavailable: {type(err).__name__}", status=503) from None

    async def get_items(self, ids: list[str]) -> dict[str, bytes]:
        try:
            values = await self.redis.mget([self.item_prefix + i for i in ids])
        except Exception as err:
            raise GatewayError("api_error", f"response store unavailable: {type(err).__name__}", status=503) from None
        return {i: v for i, v in zip(ids, values, strict=True) if v is not None}

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
