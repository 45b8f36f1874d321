"""The built-in `mock` provider: no upstream, deterministic answers from the request. It serves demos and
tests, and with `latency` / `chunks` / `chunk_delay` it drives load benchmarks.

Behaviour: the reply echoes the last user text ("You said: ..."); when tools are offered (and tool_choice is
not `none`) and the last user turn holds no tool result, it calls one tool with arguments filled from the
tool's schema; when the last user turn holds tool results, it answers with them; with reasoning on it
thinks first."""

from __future__ import annotations

import asyncio
import hashlib
import math
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import msgspec

from unified.errors import GatewayError
from unified.ids import mint
from unified.provider import ModelInfo, Provider, Upstream
from unified.types import (
    FLUSH,
    EmbedRequest,
    EmbedResponse,
    Event,
    Finish,
    ImagePart,
    Request,
    Response,
    Start,
    StopReason,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)


class MockOptions(msgspec.Struct, forbid_unknown_fields=True):
    latency: float = 0.0  # seconds before the first token
    chunk_delay: float = 0.0  # seconds between stream chunks
    chunks: int = 4  # how many text deltas a streamed reply is cut into
    reply: str | None = None  # fixed reply text instead of the echo
    embedding_dimensions: int = 8
    text_only: bool = False  # never call a tool (an agent demo on the mock would loop on tool calls)


def _estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def _split(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text))) if text else 1
    size = math.ceil(len(text) / n) if text else 0
    return [text[i : i + size] for i in range(0, len(text), size)] if text else [""]


def _example_args(schema: dict[str, Any] | None, text: str) -> dict[str, Any]:
    props = (schema or {}).get("properties") or {}
    required = (schema or {}).get("required") or list(props)
    args: dict[str, Any] = {}
    for name in required:
        kind = (props.get(name) or {}).get("type", "string")
        enum = (props.get(name) or {}).get("enum")
        if enum:
            args[name] = enum[0]
        elif kind == "string":
            args[name] = text or name
        elif kind in ("number", "integer"):
            args[name] = 1
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        else:
            args[name] = {}
    return args


class MockProvider(Provider):
    type: ClassVar[str] = "mock"
    flushes: ClassVar[bool] = True
    free: ClassVar[bool] = True
    Options = MockOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options: MockOptions = self.options or MockOptions()

    @classmethod
    def check_config(cls, config: Any) -> list[str]:
        return []

    @classmethod
    def builtin_default(cls, env: Mapping[str, str]) -> dict[str, Any] | None:
        return {"providers": {"mock": {"type": "mock"}}, "models": {"demo": "mock/demo"}, "default_model": "demo"}

    def _plan(self, req: Request) -> tuple[str, str, list[ToolCallPart], StopReason, Usage]:
        """(thinking, text, tool calls, stop reason, usage) for a request: the one source of truth for
        both the streamed and the whole answer."""
        last_user = next((m for m in reversed(req.messages) if m.role == "user"), None)
        user_text = ""
        results: list[ToolResultPart] = []
        images = 0
        if last_user is not None:
            user_text = " ".join(p.text for p in last_user.content if isinstance(p, TextPart)).strip()
            results = [p for p in last_user.content if isinstance(p, ToolResultPart)]
            images = sum(isinstance(p, ImagePart) for p in last_user.content)
        calls: list[ToolCallPart] = []
        if results:
            text = "Tool results: " + "; ".join(
                "".join(c.text for c in r.content if isinstance(c, TextPart)) for r in results
            )
        elif self.options.reply is not None:
            text = self.options.reply
        else:
            text = f"You said: {user_text}" if user_text else "Hello from the llm-link mock provider."
            if images:
                text += f" ({images} image{'s' if images > 1 else ''} received)"
        tc = req.tool_choice
        if req.tools and not results and not self.options.text_only and not (tc is not None and tc.mode == "none"):
            chosen = [t for t in req.tools if tc is not None and tc.mode == "tool" and t.name == tc.name] or req.tools[
                :1
            ]
            for t in chosen:
                calls.append(
                    ToolCallPart(
                        id=mint("call_"),
                        name=t.name,
                        arguments=msgspec.json.encode(_example_args(t.parameters, user_text)).decode(),
                    )
                )
            text = ""
        thinking = ""
        if req.reasoning is not None and req.reasoning.enabled:
            thinking = f"The user wrote {len(user_text)} characters; answering plainly."
        stop: StopReason = "tool_calls" if calls else "stop"
        if req.max_tokens is not None and _estimate_tokens(text) > req.max_tokens and not calls:
            text = text[: req.max_tokens * 4]
            stop = "length"
        prompt = sum(
            _estimate_tokens(p.text) for m in req.messages for p in m.content if isinstance(p, TextPart | ThinkingPart)
        )
        output = _estimate_tokens(text) + _estimate_tokens(thinking) + sum(_estimate_tokens(c.arguments) for c in calls)
        return thinking, text, calls, stop, Usage(input_tokens=prompt, output_tokens=output)

    async def chat(self, request: Request, model: str, up: Upstream) -> Response:
        if self.options.latency:
            await asyncio.sleep(self.options.latency)
        thinking, text, calls, stop, usage = self._plan(request)
        content: list[Any] = []
        if thinking:
            content.append(ThinkingPart(text=thinking, signature=None))
        if text:
            content.append(TextPart(text=text))
        content.extend(calls)
        return Response(id=mint("mock-"), model=model, content=content, stop_reason=stop, usage=usage)

    async def stream(self, request: Request, model: str, up: Upstream) -> AsyncIterator[Event]:
        opts = self.options
        thinking, text, calls, stop, usage = self._plan(request)
        yield Start(id=mint("mock-"), model=model)
        if opts.latency:
            yield FLUSH
            await asyncio.sleep(opts.latency)
        if thinking:
            yield ThinkingDelta(text=thinking)
        for i, piece in enumerate(_split(text, opts.chunks) if text else []):
            if i and opts.chunk_delay:
                yield FLUSH  # what came so far goes out before the pause
                await asyncio.sleep(opts.chunk_delay)
            yield TextDelta(text=piece)
        for i, call in enumerate(calls):
            yield ToolCallStart(index=i, id=call.id, name=call.name)
            for piece in _split(call.arguments, 2):
                yield ToolCallDelta(index=i, arguments=piece)
        yield Finish(stop_reason=stop, usage=usage)

    async def embed(self, request: EmbedRequest, model: str, up: Upstream) -> EmbedResponse:
        dims = request.dimensions or self.options.embedding_dimensions
        # Bounded whatever a dialect let through: a huge value would spin this loop and block the worker.
        if not 1 <= dims <= 4096 or dims * len(request.inputs) > 4_000_000:
            raise GatewayError(
                "invalid_request",
                "mock: dimensions must be 1..4096 and inputs x dimensions at most 4M",
                param="dimensions",
            )
        vectors = []
        for text in request.inputs:
            raw = b""
            seed = text.encode()
            while len(raw) < dims * 4:
                seed = hashlib.sha256(seed).digest()
                raw += seed
            values = [(v / 2**31) - 1.0 for v in struct.unpack(f"<{dims}I", raw[: dims * 4])]
            norm = math.sqrt(sum(v * v for v in values)) or 1.0
            vectors.append([v / norm for v in values])
        tokens = sum(_estimate_tokens(t) for t in request.inputs)
        return EmbedResponse(model=model, vectors=vectors, input_tokens=tokens)

    async def count_tokens(self, request: Request, model: str, up: Upstream) -> int | None:
        return self._plan(request)[4].input_tokens

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m) for m in (self.config.models or [])]
