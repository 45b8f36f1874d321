"""The provider-facing interface: what the core calls on an upstream adapter, and the listing type it gets
back. Adapters live in `providers/`; HTTP plumbing they share is `providers.base.HTTPProvider`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import msgspec

from unified.errors import GatewayError
from unified.types import EmbedRequest, EmbedResponse, Event, Request, Response


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

    def __init__(self, name: str, config: Any, options: Any, session: Any) -> None:
        self.name = name
        self.config = config  # gateway.config.ProviderConfig
        self.options = options  # the type's Options struct, or None
        self.session = session  # the worker's pooled aiohttp.ClientSession (None outside a server)

    @classmethod
    def check_config(cls, config: Any) -> list[str]:
        """Type-specific problems with the common provider settings, each starting with the field name."""
        return []

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        raise NotImplementedError

    def stream(self, request: Request, model: str, up: Upstream) -> AsyncIterator[Event]:
        raise NotImplementedError

    async def embed(self, request: EmbedRequest, model: str, up: Upstream) -> EmbedResponse:
        raise GatewayError("invalid_request", f"provider {self.name!r} ({self.type}) does not support embeddings")

    async def count_tokens(self, request: Request, model: str, up: Upstream) -> int | None:
        """Exact prompt token count where the upstream offers one; None = let the caller estimate."""
        return None

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m) for m in (self.config.models or [])]

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
