"""Responses tools <-> unified tools: functions as they are, `custom` (freeform) tools as functions of one
string `input`, `namespace` groups flattened to `<namespace>__<name>`, hosted tools set aside.

`ToolMap` remembers what was flattened, so the answer's calls go back to the client as the items it
expects (`custom_tool_call` with the raw input; `function_call` with its `namespace`)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from dialects.responses import schema as wire
from unified import custom, fields
from unified.errors import invalid
from unified.types import Tool, ToolChoice

NS_SEP = "__"
CUSTOM_PARAMETERS = custom.PARAMETERS
# Hosted tool types (run by OpenAI's servers): forwarded to a Responses upstream, dropped elsewhere.
HOSTED = fields.RESPONSES_HOSTED

_INPUT_PREFIX = re.compile(r'\s*\{\s*"input"\s*:\s*"')
# A text that may still become that prefix: what has arrived of it so far.
_INPUT_PREFIX_PARTIAL = re.compile(r'\s*(\{\s*("(i(n(p(u(t("\s*(:\s*)?)?)?)?)?)?)?)?)?')
_SPECIAL = re.compile(r'["\\]')
_tool_decoder = msgspec.json.Decoder(wire.ToolDef)
_dict_decoder = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.encode


class ToolMap:
    """What the client's tool list turned into, for mapping calls back."""

    __slots__ = ("custom", "hosted", "namespaced")

    def __init__(self) -> None:
        self.custom: set[str] = set()  # unified names of custom tools
        self.namespaced: dict[str, tuple[str, str]] = {}  # unified name -> (namespace, name)
        self.hosted: list[dict[str, Any]] = []

    def is_custom(self, name: str) -> bool:
        return name in self.custom

    def split(self, name: str) -> tuple[str | None, str]:
        """A unified tool name as (namespace, name) for the client."""
        found = self.namespaced.get(name)
        return found if found is not None else (None, name)


def flat_name(namespace: str | None, name: str) -> str:
    return f"{namespace}{NS_SEP}{name}" if namespace else name


def _unified(t: wire.ToolDef, where: str, namespace: str | None, tmap: ToolMap) -> Tool:
    if not t.name:
        raise invalid(f"{where}.name: required", f"{where}.name")
    name = flat_name(namespace, t.name)
    if namespace:
        tmap.namespaced[name] = (namespace, t.name)
    if t.type == "function":
        return Tool(
            name=name,
            description=t.description,
            parameters=t.parameters if t.parameters is not None else {"type": "object", "properties": {}},
            strict=t.strict,
            namespace=namespace,
        )
    # custom: a function of one string; a grammar goes into the description so a chat model can follow it
    tmap.custom.add(name)
    fmt = t.format or {"type": "text"}
    return Tool(
        name=name,
        description=custom.describe(t.description, fmt),
        parameters=CUSTOM_PARAMETERS,
        custom=fmt,
        namespace=namespace,
    )


def tools_in(raws: list[msgspec.Raw] | None, tmap: ToolMap) -> list[Tool] | None:
    if not raws:
        return None
    out: list[Tool] = []
    for i, raw in enumerate(raws):
        where = f"tools[{i}]"
        try:
            t = _tool_decoder.decode(raw)
        except msgspec.ValidationError as err:
            raise invalid(f"{where}: {err}", where) from None
        if t.type in ("function", "custom"):
            out.append(_unified(t, where, None, tmap))
        elif t.type == "namespace":
            if not t.name:
                raise invalid(f"{where}.name: required", f"{where}.name")
            for j, inner in enumerate(t.tools or []):
                if inner.type not in ("function", "custom"):
                    raise invalid(f"{where}.tools[{j}].type: expected function or custom", f"{where}.tools[{j}]")
                out.append(_unified(inner, f"{where}.tools[{j}]", t.name, tmap))
        else:
            tmap.hosted.append(_dict_decoder.decode(raw))
    return out or None


def tool_choice_in(
    choice: str | wire.ToolChoiceObject | None, parallel: bool | None, tmap: ToolMap
) -> tuple[ToolChoice | None, str | None]:
    """The unified choice, and the hosted tool type it forces (if any): that needs an upstream that runs it."""
    out: ToolChoice | None = None
    forced_hosted = None
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise invalid("tool_choice: expected 'auto', 'none', 'required' or a tool object", "tool_choice")
        out = ToolChoice(mode=choice)  # type: ignore[arg-type]
    elif choice is not None:
        kind = choice.type
        if kind in ("function", "custom"):
            if not choice.name:
                raise invalid("tool_choice.name: required", "tool_choice.name")
            out = ToolChoice(mode="tool", name=choice.name)
        elif kind == "allowed_tools":
            out = ToolChoice(mode="required" if choice.mode == "required" else "auto")
        elif kind in ("auto", "none", "required"):
            out = ToolChoice(mode=kind)  # type: ignore[arg-type]
        else:  # a hosted tool by type: the unified name is the type (see unified.types.Request.hosted_tools)
            forced_hosted = kind
            out = ToolChoice(mode="tool", name=kind)
    if parallel is False:
        out = msgspec.structs.replace(out or ToolChoice(), parallel=False)
    return out, forced_hosted


def custom_arguments(text: str) -> str:
    return custom.arguments(text)


def custom_input(arguments: str) -> str:
    return custom.input_of(arguments)


class InputStream:
    """Unwraps a custom tool call's streamed arguments ({"input": "..."} as JSON text in arbitrary pieces)
    into the raw input as it arrives, so `custom_tool_call_input.delta` events flow like the real API's.
    Anything else than that exact shape is left to `custom_input` once the call is whole."""

    __slots__ = ("buf", "pos", "sent", "state")

    def __init__(self) -> None:
        self.buf = ""
        self.pos = 0  # next unread character of the string value
        self.state = 0  # 0 = before the value, 1 = inside it, 2 = value ended or not our shape
        self.sent: list[str] = []

    def feed(self, piece: str) -> str:
        self.buf += piece
        if self.state == 0:
            match = _INPUT_PREFIX.match(self.buf)
            if match is None:
                if not _INPUT_PREFIX_PARTIAL.fullmatch(self.buf):
                    self.state = 2
                return ""
            self.state = 1
            self.pos = match.end()
        if self.state != 1:
            return ""
        out: list[str] = []
        buf = self.buf
        pos = self.pos
        end = len(buf)
        while pos < end:
            stop = _SPECIAL.search(buf, pos)
            if stop is None:
                out.append(buf[pos:])
                pos = end
                break
            if stop.start() > pos:
                out.append(buf[pos : stop.start()])
            pos = stop.start()
            if buf[pos] == '"':
                self.state = 2
                break
            width = 2
            if buf.startswith("\\u", pos):
                width = 6
                if buf[pos + 2 : pos + 4].lower() in ("d8", "d9", "da", "db"):
                    width = 12  # a surrogate pair decodes as one character
            if pos + width > end:
                break  # the rest of this escape is still to come
            try:
                out.append(msgspec.json.decode(('"' + buf[pos : pos + width] + '"').encode()))
            except msgspec.DecodeError:
                self.state = 2
                break
            pos += width
        self.buf = buf[pos:]  # keep only what is unread, so long inputs stay linear
        self.pos = 0
        text = "".join(out)
        if text:
            self.sent.append(text)
        return text

    def rest(self, whole: str) -> str:
        """What the streamed pieces still lack of the whole input (nothing when they diverged)."""
        sent = "".join(self.sent)
        return whole[len(sent) :] if whole.startswith(sent) else ""
