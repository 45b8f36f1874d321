"""The provider-facing interface: what the core calls on an upstream adapter, and the listing type it gets
back. Adapters live in `providers/`; HTTP plumbing they share is `providers.base.HTTPProvider`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import msgspec

from unified.errors import GatewayError
from unified.types import EmbedRequest, EmbedResponse, Event, Flush, Request, Response


class ModelInfo(msgspec.Struct, omit_defaults=True):
    """A model an upstream says it serves (for listings)."""

    id: str
    created: int = 0
    size: int = 0
    digest: str | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    context_length: int | None = None
    capabilities: list[str] | None = None


class Upstream:
    """What the core hands a provider with each upstream call, the way Go code passes a `ctx`: the
    request's deadline (time.monotonic() seconds, None = only the provider's own timeouts), extra headers
    for this call (the model's configured `headers`, trace context), and which attempt this is (1 = the
    first). Providers read it and never keep it."""

    __slots__ = ("attempt", "deadline", "headers")

    def __init__(
        self, deadline: float | None = None, headers: Mapping[str, str] | None = None, attempt: int = 1
    ) -> None:
        self.deadline = deadline
        self.headers = headers
        self.attempt = attempt


class EventStream:
    """A streamed answer read in batches: each `read()` returns the unified events that arrived together
    (one network read's worth), [] once the stream has ended. The writer sends each batch in one write,
    so there is no generator per event between the upstream socket and the client."""

    __slots__ = ()

    async def read(self) -> list[Event]:
        raise NotImplementedError

    async def close(self) -> None:
        """Release the upstream (at the end, or early when the client went away)."""


class GeneratorStream(EventStream):
    """Batches from an event-by-event async iterator (a provider that implements `stream()`): with
    `flushes`, events up to each Flush form a batch; without, every event is its own."""

    __slots__ = ("error", "events", "flushes")

    def __init__(self, events: AsyncIterator[Event], flushes: bool) -> None:
        self.events = events
        self.flushes = flushes
        self.error: GatewayError | None = None

    async def read(self) -> list[Event]:
        if self.error is not None:  # after the events that came before it
            err, self.error = self.error, None
            raise err
        batch: list[Event] = []
        try:
            return await self._read(batch)
        except GatewayError as err:
            if not batch:
                raise
            self.error = err
            return batch

    async def _read(self, batch: list[Event]) -> list[Event]:
        async for event in self.events:
            if type(event) is Flush:
                if batch:
                    return batch
                continue
            batch.append(event)
            if not self.flushes or len(batch) >= 256:
                return batch
        return batch

    async def close(self) -> None:
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            await aclose()


# Upstream answer headers a client may act on (retry pacing, the upstream's request id for support).
PASSED_RESPONSE_HEADERS = frozenset({"retry-after", "retry-after-ms", "x-should-retry", "request-id"})


class UpstreamStatusError(GatewayError):
    """An upstream's error answer on the forwarding lane: passed to the client with its status and body
    (`native` is set when the attempt that got it was a forwarded one)."""

    native = False

    body: bytes | None

    def __init__(self, err: GatewayError, body: bytes, content_type: str) -> None:
        super().__init__(err.kind, err.message, status=err.status, headers=err.headers)
        self.body = body
        self.content_type = content_type


class Provider:
    """A provider adapter speaks one upstream's wire format and nothing else: it takes a unified Request
    and gives back a unified Response or a stream of unified Events. It never knows which dialect asked."""

    Options: ClassVar[type[msgspec.Struct] | None] = None  # the type's `options:` schema, if it takes any
    type: ClassVar[str]  # the `type:` name in the config (providers.registry)
    # True when stream() yields a Flush whenever the upstream has nothing more buffered (our SSE/NDJSON
    # readers make that cue); the client's writes are then batched up to each Flush.
    flushes: ClassVar[bool] = False
    # True when the upstream runs Responses hosted tools itself (an `api: responses` upstream; set per
    # instance): Request.hosted_tools reach it; elsewhere they are dropped and counted by the dialect.
    hosted_tools: bool = False
    # Which Request.droppable fields (unified.fields) this adapter sends on; the others are counted as
    # dropped for it (gateway.dropped).
    carries: ClassVar[frozenset[str]] = frozenset()
    # Where this upstream's API has two names for one parameter, the one it wants (unified parameter ->
    # field; set per instance, once): the forwarding lane writes a configured default there, e.g. OpenAI's
    # `max_completion_tokens` for api.openai.com's reasoning models instead of `max_tokens`.
    param_fields: Mapping[str, str] = MappingProxyType({})
    # What the core's bookkeeping needs to know about a type, so that it names no provider itself:
    free: ClassVar[bool] = False  # calls cost nothing (local or simulated) unless a model sets a `price`
    price_table_id: ClassVar[str | None] = None  # the provider id in the price table (gateway.spend)
    otel_name: ClassVar[str | None] = None  # `gen_ai.provider.name` in traces; None = the `type`

    # Wire APIs this upstream speaks as-is (gateway.native): API name -> path under base_url. A request in
    # one of them is forwarded rather than rebuilt, unless the provider says `passthrough: false`.
    native_apis: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A class that streams event by event (its own stream()) is read through the adapter even when a
        # parent has a framed open_stream() for another endpoint (api: responses under the chat adapter).
        if "stream" in cls.__dict__ and "open_stream" not in cls.__dict__:
            cls.open_stream = Provider.open_stream  # type: ignore[method-assign]

    def __init__(self, name: str, config: Any, options: Any, session: Any) -> None:
        self.name = name
        self.config = config  # gateway.config.ProviderConfig
        self.options = options  # the type's Options struct, or None
        self.session = session  # the worker's pooled aiohttp.ClientSession (None outside a server)

    @classmethod
    def check_config(cls, config: Any) -> list[str]:
        """Type-specific problems with the common provider settings, each starting with the field name."""
        return []

    @classmethod
    def builtin_default(cls, env: Mapping[str, str]) -> dict[str, Any] | None:
        """This type's share of the built-in config used when no file is found (gateway.config.load): a
        partial config ({"providers": ..., "models": ..., "default_model": ...}), or None to stay out.
        Declared per type (a subclass does not inherit its parent's environment variables)."""
        return None

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        raise NotImplementedError

    async def open_stream(self, request: Request, model: str, up: Upstream) -> EventStream:
        """Start a streamed answer (the upstream request is made here). Providers with a framed reader
        override this; the default reads `stream()` through an adapter."""
        return GeneratorStream(aiter(self.stream(request, model, up)), self.flushes)

    async def stream(self, request: Request, model: str, up: Upstream) -> AsyncIterator[Event]:
        """The same answer event by event. Implement this or `open_stream`; each defaults to the other."""
        if type(self).open_stream is Provider.open_stream:
            raise NotImplementedError(f"{type(self).__name__} implements neither stream() nor open_stream()")
        events = await self.open_stream(request, model, up)
        try:
            while batch := await events.read():
                for event in batch:
                    yield event
        finally:
            await events.close()

    async def embed(self, request: EmbedRequest, model: str, up: Upstream) -> EmbedResponse:
        raise GatewayError("invalid_request", f"provider {self.name!r} ({self.type}) does not support embeddings")

    async def count_tokens(self, request: Request, model: str, up: Upstream) -> int | None:
        """Exact prompt token count where the upstream offers one; None = let the caller estimate."""
        return None

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m) for m in (self.config.models or [])]

    async def close(self) -> None:
        """Release what the provider opened itself (the shared session belongs to the app)."""

    async def compact(self, body: dict[str, Any], model: str, up: Upstream) -> bytes:
        """OpenAI Responses `POST /responses/compact`: the client's body (with `model` set to the upstream
        model) sent to an upstream that has the endpoint, its JSON answer returned. Only Responses
        upstreams (`api: responses`) can; elsewhere a 400 that tells the client to compact locally."""
        raise GatewayError(
            "invalid_request",
            f"POST /v1/responses/compact needs an upstream that speaks the Responses API (`api: responses`); "
            f"provider {self.name!r} ({self.type}) does not, so compact the conversation locally",
            param="model",
        )

    def realtime(self, model: str) -> tuple[str, dict[str, str]] | None:
        """The upstream's Realtime API WebSocket URL for `model` and the headers that open it (its own key),
        when it serves `/realtime`; None elsewhere."""
        return None

    def native_path(self, api: str) -> str | None:
        """The upstream path for a request in wire API `api` when it can be forwarded as-is, else None."""
        if not self.native_apis or not getattr(self.config, "passthrough", True):
            return None
        return self.native_apis.get(api)

    def forward(
        self, path: str, body: bytes, client_headers: Mapping[str, str], up: Upstream, *, stream: bool
    ) -> Awaitable[Any]:
        """POST a client's body as-is to `path`: an awaitable of the upstream's aiohttp response (an error
        status raises UpstreamStatusError). Only providers with `native_apis` implement it."""
        raise NotImplementedError

    async def read_capped(self, resp: Any) -> bytes:
        """The whole body of a response `forward` returned, or a 502 past the provider's size limit."""
        raise NotImplementedError

    def mask(self, text: str) -> str:
        """Upstream text on its way to a client or a log, with this provider's secrets masked."""
        return text
