"""Ollama native API request bodies as msgspec structs. Unknown fields are ignored, as
the real server does; a wrong value type is a 400 naming the field."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec


class Options(msgspec.Struct):
    """Runtime parameters (§3.4). Runner settings other than num_ctx have no meaning behind a gateway and
    are accepted and dropped."""

    num_predict: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    typical_p: float | None = None
    stop: list[str] | str | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    num_ctx: int | None = None
    num_keep: int | None = None


class ToolCallFunction(msgspec.Struct):
    name: str
    arguments: dict[str, Any] | str | None = None
    index: int | None = None


class ToolCall(msgspec.Struct):
    function: ToolCallFunction
    id: str | None = None
    type: str | None = None


class Message(msgspec.Struct):
    role: str
    content: str | None = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None


class FunctionDef(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolDef(msgspec.Struct):
    function: FunctionDef
    type: str = "function"


KeepAlive = str | float | int | None
Think = bool | str | None
Format = str | dict[str, Any] | None


class ChatRequest(msgspec.Struct):
    model: str = ""
    messages: list[Message] | None = None
    tools: list[ToolDef] | None = None
    format: Format = None
    options: Options | None = None
    stream: bool | None = None  # absent = stream (Ollama's default)
    keep_alive: KeepAlive = None
    think: Think = None
    logprobs: bool | None = None
    top_logprobs: int | None = None


class GenerateRequest(msgspec.Struct):
    model: str = ""
    prompt: str | None = None
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool | None = None
    images: list[str] | None = None
    format: Format = None
    options: Options | None = None
    stream: bool | None = None
    keep_alive: KeepAlive = None
    think: Think = None


class ShowRequest(msgspec.Struct):
    model: str | None = None
    name: str | None = None  # deprecated alias
    verbose: bool | None = None


class EmbedRequest(msgspec.Struct):
    model: str = ""
    input: str | list[str] | None = None
    truncate: bool | None = None
    dimensions: Annotated[int, msgspec.Meta(ge=1, le=65536)] | None = None
    options: Options | None = None
    keep_alive: KeepAlive = None


class EmbeddingsRequest(msgspec.Struct):
    model: str = ""
    prompt: str | None = None
    options: Options | None = None
    keep_alive: KeepAlive = None
