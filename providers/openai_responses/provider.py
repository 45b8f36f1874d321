"""The adapter: an `openai` provider whose chat calls go to `POST {base_url}/responses`. Everything else
(auth headers, options, embeddings, model listings) is the chat adapter's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import msgspec

from providers.openai import OpenAIProvider
from providers.openai_responses.request import encode_request
from providers.openai_responses.response import WireResponse, events, to_unified
from providers.sse import iter_sse
from unified import fields
from unified.provider import EventStream, GeneratorStream, Upstream
from unified.types import Event, Request, Response

_encode = msgspec.json.Encoder().encode


class OpenAIResponsesProvider(OpenAIProvider):
    # A Responses request is forwarded as sent (gateway.native); chat requests are translated to Responses.
    native_apis: ClassVar[dict[str, str]] = {"openai.responses": "/responses"}
    # Hosted tools run upstream; of the chat-only fields, those the Responses body has too (PASSABLE_EXTRAS).
    carries: ClassVar[frozenset[str]] = frozenset(
        {
            fields.TOOLS_STRICT,
            fields.TOOLS_CUSTOM,
            "metadata",
            "prompt_cache_key",
            "prompt_cache_retention",
            "service_tier",
            "top_logprobs",
            fields.VERBOSITY,
            *fields.RESPONSES_ONLY,
            *fields.RESPONSES_HOSTED_FIELDS,
        }
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hosted_tools = True  # web_search and the like run upstream, so they are passed on

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        body = _encode(encode_request(request, model, stream=False))
        resp = await self.post("/responses", body, self.headers_for(), up)
        data: WireResponse = await self.read_json(resp, WireResponse)
        return to_unified(data, model, self.name)

    async def open_stream(self, request: Request, model: str, up: Upstream) -> EventStream:
        # The chat adapter's framed reader would ask /chat/completions; this adapter streams event by event.
        return GeneratorStream(aiter(self.stream(request, model, up)), self.flushes)

    async def stream(self, request: Request, model: str, up: Upstream) -> AsyncIterator[Event]:
        body = _encode(encode_request(request, model, stream=True))
        resp = await self.post("/responses", body, self.headers_for("text/event-stream"), up, stream=True)
        try:
            async for event in events(iter_sse(resp, self.name), model, self.name):
                yield event
        finally:
            resp.release()

    async def compact(self, body: dict[str, Any], model: str, up: Upstream) -> bytes:
        """`POST /responses/compact` passed through: the upstream's answer (its `output` items, with the
        opaque compaction item) goes back whole."""
        resp = await self.post("/responses/compact", _encode({**body, "model": model}), self.headers_for(), up)
        data: msgspec.Raw = await self.read_json(resp, msgspec.Raw)
        return bytes(data)
