"""Serving one model call for any dialect: the route for the model the client named (then the key's model
access, checked once), and the chat path every dialect runs with its codec — a whole answer, or a stream
written through the dialect's encoder. Dialects keep only their wire schema, codec and routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sanic import HTTPResponse, Request

from gateway import affinity, dispatch, streamed
from gateway.auth import check_model_access
from gateway.cache import serve as cached
from gateway.call import Call
from gateway.response import raw
from gateway.router import Route, Target
from gateway.streaming import SSE_HEADERS, StreamEncoder, send_stream
from unified.types import Request as ChatRequest
from unified.types import Response


def resolve(
    call: Call,
    request: Request,
    name: str,
    find: Callable[[str], Route] | None = None,
    session: tuple[str | None, ...] = (),
) -> Route:
    """The route for the model the client named (`find`: a dialect's own lookup, e.g. Ollama tags), then
    the key's model access (403), checked against that name as the client wrote it. The call is labelled
    with the name while it resolves and with the route's name after. `session`: the body's session fields
    in precedence order (prompt_cache_key, metadata.user_id, user), hashed only for a model with
    `affinity: session`."""
    call.model = name
    route = (find or request.app.ctx.router.resolve)(name)
    check_model_access(call, name)
    call.model = route.name
    call.model_label = route.metric_name  # a metric label only now: a 404 or 403 never makes a series
    if route.sticky:
        call.session = affinity.session_key(request.headers, session)
    return route


class ChatCodec(Protocol):
    """What a dialect hands the core to answer one chat request in its own shape."""

    content_type: str  # of a whole answer
    stream_headers: dict[str, str]

    def stream_encoder(self, target: Target) -> StreamEncoder:
        """The encoder for a stream that `target` answers (made once the upstream has answered)."""

    def render(self, response: Response, target: Target) -> bytes:
        """A whole answer's body."""


class Codec:
    """A ChatCodec from functions: the stream encoder, the whole-answer body, and optionally `answered`,
    called with the target that answered (for per-target bookkeeping)."""

    def __init__(
        self,
        encoder: Callable[[], StreamEncoder],
        render: Callable[[Response], bytes],
        content_type: str = "application/json",
        stream_headers: dict[str, str] = SSE_HEADERS,
        answered: Callable[[Target], None] | None = None,
    ) -> None:
        self.encoder = encoder
        self._render = render
        self.content_type = content_type
        self.stream_headers = stream_headers
        self.answered = answered  # told which target answered, before anything is encoded

    def stream_encoder(self, target: Target) -> StreamEncoder:
        if self.answered is not None:
            self.answered(target)
        return self.encoder()

    def render(self, response: Response, target: Target) -> bytes:
        if self.answered is not None:
            self.answered(target)
        return self._render(response)


async def chat(request: Request, call: Call, route: Route, req: ChatRequest, codec: ChatCodec) -> HTTPResponse | None:
    """Run a unified chat request on `route` and answer it through the dialect's codec: streamed when the
    request asks for it (the response is written here; None is returned), else one body. A model with
    `cache: true` goes through the response cache (gateway.cache)."""
    cache = request.app.ctx.cache
    if cache is not None and route.config is not None and route.config.cache:
        return await cached.chat(request, call, route, req, codec, cache)
    if req.stream:
        answer = await streamed.open_stream(call, route, req)
        try:
            encoder = codec.stream_encoder(answer.target)
        except BaseException:
            await answer.close()
            raise
        await send_stream(request, call, answer, encoder, codec.stream_headers)
        return None
    response, target = await dispatch.complete(call, route, req)
    return raw(codec.render(response, target), content_type=codec.content_type)
