"""Anthropic dialect endpoints: /v1/messages, /v1/messages/count_tokens, /v1/models, /v1/models/{id}.

Routing looks at the path only, so Claude Code's `/v1/messages?beta=true` lands here too. A request whose
target speaks the Messages API itself is forwarded as sent (gateway.forward, with the client's
`anthropic-version` / `anthropic-beta`); others are translated. The client's `x-api-key` / `Authorization`
are never forwarded: each provider uses its own configured credentials."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import msgspec
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from dialects.anthropic import codec, native
from dialects.anthropic import schema as wire
from dialects.anthropic.errors import render_error
from dialects.anthropic.stream import EventEncoder
from gateway import dispatch, forward, serve
from gateway.auth import check_model_access
from gateway.call import Call
from gateway.handler import decode_body, endpoint
from unified.errors import GatewayError, invalid

_messages_decoder = msgspec.json.Decoder(wire.MessagesRequest)
_count_decoder = msgspec.json.Decoder(wire.CountTokensRequest)
_encode = msgspec.json.encode
JSON = "application/json"


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _model_object(name: str, created: float) -> dict[str, str]:
    return {"type": "model", "id": name, "display_name": name, "created_at": _rfc3339(created)}


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise invalid(f"{name}: Input should be a valid integer", name) from None
    if not low <= n <= high:
        raise invalid(f"{name}: must be between {low} and {high}", name)
    return n


def _no_unified() -> Any:
    raise AssertionError("count_tokens is forwarded to the primary target only")


def make_blueprint(prefix: str) -> Blueprint:
    bp = Blueprint("anthropic", url_prefix=prefix + "/v1")
    on = endpoint("anthropic", render_error)

    @bp.post("/messages")
    @on
    async def messages(request: Request, call: Call) -> HTTPResponse | None:
        if forward.speaks(request.app.ctx.router, native.MESSAGES.name):
            head: native.Head = decode_body(request, native.Head, native.head_decoder)
            route = serve.resolve(
                call, request, head.model, session=(head.metadata.user_id if head.metadata else None,)
            )
            if forward.reaches(route, native.MESSAGES.name):

                def unified() -> Any:  # for a trace that captures content only
                    return codec.to_unified(decode_body(request, wire.MessagesRequest, _messages_decoder))

                lane = forward.Lane(native.MESSAGES, request, head.model, bool(head.stream), unified)
                return await forward.serve(request, call, route, lane)
        body: wire.MessagesRequest = decode_body(request, wire.MessagesRequest, _messages_decoder)
        call.model = body.model
        req = codec.to_unified(body)
        route = serve.resolve(call, request, body.model, session=(body.metadata.user_id if body.metadata else None,))
        return await serve.chat(
            request,
            call,
            route,
            req,
            serve.Codec(lambda: EventEncoder(body.model), lambda response: codec.from_unified(response, body.model)),
        )

    @bp.post("/messages/count_tokens")
    @on
    async def count_tokens(request: Request, call: Call) -> HTTPResponse:
        if forward.speaks(request.app.ctx.router, native.COUNT_TOKENS.name):
            head: native.CountHead = decode_body(request, native.CountHead, native.count_head_decoder)
            route = serve.resolve(call, request, head.model)
            picked = forward.single_target(route, native.COUNT_TOKENS.name)
            if picked is not None:
                lane = forward.Lane(native.COUNT_TOKENS, request, head.model, False, _no_unified)
                return forward.respond(await forward.single(call, route, picked, lane, request.headers), call)
        body: wire.CountTokensRequest = decode_body(request, wire.CountTokensRequest, _count_decoder)
        call.model = body.model
        if not body.messages:
            raise invalid("messages: at least one message is required", "messages")
        route = serve.resolve(call, request, body.model)
        req = codec.count_request(body)
        count = await dispatch.count_tokens(call, route, req)
        if count is None:
            count = codec.estimate_input_tokens(dispatch.transform(route, req))  # the system prefix counts too
        return raw(_encode({"input_tokens": count}), content_type=JSON)

    @bp.get("/models")
    @on
    async def models(request: Request, call: Call) -> HTTPResponse:
        limit = _int_arg(request, "limit", 20, 1, 1000)
        after_id = request.args.get("after_id")
        before_id = request.args.get("before_id")
        listing = await dispatch.list_models(call, request.app.ctx.router)
        started = request.app.ctx.started
        names = [name for name, _, _ in listing]
        created = {name: info.created or started for name, _, info in listing}
        if after_id is not None:
            if after_id not in created:
                raise GatewayError("not_found", f"after_id: model {after_id!r} not found")
            start = names.index(after_id) + 1
            page = names[start : start + limit]
            has_more = start + limit < len(names)
        elif before_id is not None:
            if before_id not in created:
                raise GatewayError("not_found", f"before_id: model {before_id!r} not found")
            end = names.index(before_id)
            page = names[max(0, end - limit) : end]
            has_more = end - limit > 0
        else:
            page = names[:limit]
            has_more = limit < len(names)
        data = [_model_object(n, created[n]) for n in page]
        return raw(
            _encode(
                {
                    "data": data,
                    "has_more": has_more,
                    "first_id": page[0] if page else None,
                    "last_id": page[-1] if page else None,
                }
            ),
            content_type=JSON,
        )

    @bp.get("/models/<model_id:path>")
    @on
    async def model(request: Request, call: Call, model_id: str) -> HTTPResponse:
        name = unquote(model_id)
        check_model_access(call, name)
        router = request.app.ctx.router
        started = request.app.ctx.started
        for listed, _, info in await router.list_models():
            if listed == name:
                return raw(_encode(_model_object(name, info.created or started)), content_type=JSON)
        if router.find(name) is not None:
            return raw(_encode(_model_object(name, started)), content_type=JSON)
        raise GatewayError("not_found", f"model: {name}")

    return bp
