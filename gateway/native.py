"""The same API on both sides: what a dialect tells the gateway about its own wire API so a request
can be forwarded to an upstream that speaks it, instead of being rebuilt.

A dialect describes each of its endpoints with a `NativeApi` (a name such as "anthropic.messages", the narrow
struct routing needs, how to patch the configured transforms into the raw body, and how to read usage from an
answer); a provider lists the API names it speaks natively and the upstream path of each. They meet on the
name only: the dialect never learns which provider answers, the provider never learns which dialect asked.

Everything here works on raw bytes: the body is decoded one level deep (`dict[str, msgspec.Raw]`) only when
something in it must change, and answers are scanned for usage, never re-encoded."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import msgspec

from gateway.config import ModelConfig
from gateway.config.schema import MODEL_PARAMS
from unified.types import Usage

try:  # a SIMD substring search: ~14x faster than bytes.find on a stream's read (bench.scan_cost)
    from stringzilla import find as find_in
except ImportError:  # pragma: no cover - no wheel for this platform: CPython's own search, same answers
    find_in = bytes.find

Raw = msgspec.Raw
_decode_fields = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_encode = msgspec.json.encode

# Client headers that are credentials or hop-by-hop: never forwarded, whatever `forward_headers` says.
NEVER_FORWARD = frozenset(
    {
        "authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "accept-encoding",
    }
)
MAX_FORWARDED_VALUE = 4096  # a client header longer than this is not forwarded (bounded upstream headers)


class RawBody:
    """A client's JSON body, decoded one level deep on first change; unchanged keys stay the client's bytes."""

    __slots__ = ("_fields", "body", "changed")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._fields: dict[str, Raw] | None = None
        self.changed = False

    @property
    def fields(self) -> dict[str, Raw]:
        if self._fields is None:
            self._fields = _decode_fields(self.body)
        return self._fields

    def has(self, key: str) -> bool:
        raw = self.fields.get(key)
        return raw is not None and bytes(raw).strip() != b"null"

    def get(self, key: str, type_: Any = Any) -> Any:
        raw = self.fields.get(key)
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=type_)
        except msgspec.MsgspecError:
            return None

    def set(self, key: str, value: Any) -> None:
        self.fields[key] = Raw(_encode(value))
        self.changed = True

    def set_raw(self, key: str, raw: bytes) -> None:
        self.fields[key] = Raw(raw)
        self.changed = True

    def drop(self, key: str) -> None:
        if self.fields.pop(key, None) is not None:
            self.changed = True

    def encode(self) -> bytes:
        return _encode(self._fields) if self.changed else self.body

    def copy(self) -> RawBody:
        clone = RawBody(self.body)
        if self._fields is not None:
            clone._fields = dict(self._fields)
        return clone


def prepend_to_array(raw: bytes, item: Any) -> bytes:
    """A JSON array's bytes with one encoded item added first, without decoding the rest."""
    stripped = raw.strip()
    encoded = _encode(item)
    inner = stripped[1:].lstrip()
    if inner.startswith(b"]"):
        return b"[" + encoded + b"]"
    return b"[" + encoded + b"," + inner


_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode


class _FirstMessage(msgspec.Struct):
    role: str = ""
    content: Any = None


_decode_first = msgspec.json.Decoder(_FirstMessage).decode


def prefix_system_message(messages: bytes, prefix: str) -> bytes:
    """A chat `messages` array with the system prefix before the client's system prompt, as on the
    translated lane: merged into a leading system message, else one of its own first. Only the first
    message is decoded."""
    try:
        items = _decode_items(messages)
        first = _decode_first(items[0]) if items else None
    except msgspec.MsgspecError:
        return prepend_to_array(messages, {"role": "system", "content": prefix})
    if first is None or first.role not in ("system", "developer"):
        return prepend_to_array(messages, {"role": "system", "content": prefix})
    fields = _decode_fields(items[0])
    content = first.content
    if isinstance(content, str):
        fields["content"] = Raw(_encode(f"{prefix}\n\n{content}" if content else prefix))
    elif isinstance(content, list):
        fields["content"] = Raw(_encode([{"type": "text", "text": prefix}, *content]))
    else:
        fields["content"] = Raw(_encode(prefix))
    return b"[" + b",".join([_encode(fields), *(bytes(i) for i in items[1:])]) + b"]"


class StreamScan:
    """Reads a relayed stream on the side: usage for metrics, limits and spend, and the first content.
    `feed` returns the bytes to pass on now."""

    usage: Usage | None = None  # the latest figures the stream reported
    error: str | None = None  # an in-stream error event the upstream sent
    ended = True  # whether the upstream finished its answer (False while the end marker is still due)

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def has_content(self, chunk: bytes) -> bool:
        return True

    def tail(self) -> bytes:
        """Anything held back when the upstream ends."""
        return b""

    def may_hold_error(self, out: bytes) -> bool:
        """Whether bytes `feed` or `tail` just returned may hold an upstream error event (then they are
        masked before they are relayed)."""
        return ERROR_MARKER in out

    def boundary(self) -> bytes:
        """What ends a half-relayed event, so an error event written next stands on its own."""
        return b""


ERROR_MARKER = b'"error"'
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')


class EventScan(StreamScan):
    """Passes on whole events (SSE blocks or NDJSON lines) as they complete, holding back only a trailing
    partial one. Complete events are inspected only when they carry one of `markers`, so most chunks cost a
    `find` or two and no decode. The upstream's model name is replaced by the one the client asked for
    (as on the translated lane), learned from the first event that names it."""

    separator = b"\n\n"
    markers: tuple[bytes, ...] = ()
    # Markers that only say the stream has ended: not searched once it has (`ended`), nor in a read that
    # `ends` with the end event itself. They must not be needed for anything `markers` does not find.
    end_markers: tuple[bytes, ...] = ()

    def __init__(self, client_model: str) -> None:
        self.partial = b""
        self.client_model = client_model
        self.model_from: bytes | None = None
        self.model_to = b""
        self.upstream_model = ""
        self.renaming = True
        self.sniffed = False
        self.captured: list[str] | None = None  # answer text, for a trace with capture_content
        self.text_of: Any = None
        # With the error marker among `markers`, the marker search already says whether the bytes just
        # returned can hold an error event; the relay then need not search them once more.
        self.error_marked = ERROR_MARKER in self.markers
        self.error_seen = True
        self.searched = self.markers + self.end_markers

    def feed(self, chunk: bytes) -> bytes:
        if not self.sniffed:
            # Decided at the first line end, not the first read (a read may end inside the first line; until
            # then nothing was cut, so `partial` holds all that came). `\r` first: a one-byte search is a
            # memchr, a two-byte one walks the whole read.
            head = self.partial + chunk if self.partial else chunk
            if 10 in head:
                self.sniffed = True
                if self.separator == b"\n\n" and 13 in head and b"\r\n" in head:
                    self.separator = b"\r\n\r\n"
        sep = self.separator
        if not self.partial and chunk.endswith(sep):
            complete = chunk  # whole events, as upstreams mostly write them
        else:
            data = self.partial + chunk if self.partial else chunk
            end = data.rfind(sep)
            if end < 0:
                self.partial = data
                return b""
            cut = end + len(sep)
            if cut < len(data):
                complete, self.partial = data[:cut], data[cut:]
            else:
                complete, self.partial = data, b""
        if self.searched:
            complete = self._inspect_marked(complete)
        if self.captured is not None:
            for event in complete.split(self.separator):
                if event:
                    text = self.text_of(event)
                    if text:
                        self.captured.append(text)
        if self.renaming:
            complete = self.rename(complete)
        return complete

    def _inspect_marked(self, complete: bytes) -> bytes:
        """`complete` less the events that `inspect` drops. Each marker is looked for once over all the
        bytes (a C search), and only the events holding one are cut out and inspected."""
        searched = self.searched
        if self.end_markers and (self.ended or self.ends(complete)):
            self.ended = True
            searched = self.markers
        hits: list[tuple[bytes, int]] | None = None
        for marker in searched:  # most reads hold none: a search per marker and nothing else
            at = find_in(complete, marker)
            if at >= 0:
                if hits is None:
                    hits = []
                hits.append((marker, at))
        if hits is None:
            self.error_seen = False
            return complete
        return self._cut_marked(complete, hits)

    def _cut_marked(self, complete: bytes, hits: list[tuple[bytes, int]]) -> bytes:
        sep = self.separator
        width = len(sep)
        spans: set[tuple[int, int]] = set()
        self.error_seen = False
        for marker, first in hits:
            if marker == ERROR_MARKER:
                self.error_seen = True
            at = first
            while at >= 0:
                begin = complete.rfind(sep, 0, at)
                begin = 0 if begin < 0 else begin + width
                end = complete.find(sep, at + len(marker))
                end = len(complete) if end < 0 else end
                spans.add((begin, end))
                at = find_in(complete, marker, end)
        kept: list[bytes] = []
        start = 0  # where the bytes not yet kept begin
        for begin, end in sorted(spans):
            if self.inspect(complete[begin:end]):  # an event the client must not see
                kept.append(complete[start:begin])
                start = end + width
        if not kept:
            return complete
        kept.append(complete[start:])
        return b"".join(kept)

    def _marked(self, data: bytes) -> bool:
        for m in self.searched:  # a plain loop: `in` is a C substring search, a generator would cost more
            if m in data:
                return True
        return False

    def rename(self, complete: bytes) -> bytes:
        if self.model_from is None:
            m = _MODEL.search(complete)
            if m is None:
                return complete
            wanted = _encode(self.client_model)
            self.upstream_model = m.group(1).decode("utf-8", "replace")
            if m.group(0).endswith(wanted) and m.group(1) == wanted[1:-1]:
                self.renaming = False  # the upstream already says the client's name
                return complete
            self.model_from = m.group(0)
            self.model_to = b'"model":' + wanted
        if find_in(complete, self.model_from) < 0:  # e.g. Anthropic names it in message_start only
            return complete
        return complete.replace(self.model_from, self.model_to)

    def inspect(self, event: bytes) -> bool:
        """One complete event that carries a marker; True drops it from what the client gets."""
        return False

    def ends(self, complete: bytes) -> bool:
        """Whether these whole events end with the stream's end event (so `end_markers` need no search)."""
        return False

    def boundary(self) -> bytes:
        return self.separator if self.partial else b""

    def may_hold_error(self, out: bytes) -> bool:
        if self.error_marked and not self.error_seen:
            return False
        return ERROR_MARKER in out

    def tail(self) -> bytes:
        self.error_seen = True  # the rest is not searched for markers as a whole: the relay looks
        rest, self.partial = self.partial, b""
        if rest.strip() and self._marked(rest) and self.inspect(rest):
            return b""
        return self.rename(rest) if rest and self.renaming else rest


class _TopModel(msgspec.Struct):
    model: str | None = None


_decode_top_model = msgspec.json.Decoder(_TopModel).decode  # the rest of the answer is skipped, not built


def rename_model(body: bytes, client_model: str) -> tuple[bytes, str]:
    """A whole answer with its top-level `model` set to the name the client asked for, and the name the
    upstream gave. Only `model` is read; the body is decoded one level deep only when it must change."""
    try:
        upstream = _decode_top_model(body).model
    except msgspec.MsgspecError:
        return body, ""  # not a JSON object, or a `model` that is not a string: passed on untouched
    if upstream is None:
        return body, ""
    if upstream == client_model:
        return body, upstream
    raw = RawBody(body)
    raw.set_raw("model", _encode(client_model))
    return raw.encode(), upstream


def sse_data(event: bytes) -> bytes:
    """The data of one SSE block (several data lines joined)."""
    if event.startswith(b"data:"):
        if 10 not in event:  # one line, as OpenAI's events are (10: a memchr)
            return event[5:].lstrip(b" ")
    else:
        nl = event.find(b"\n")  # `event: x` then one data line, as Anthropic's and Responses' events are
        if nl >= 0 and event.startswith(b"data:", nl + 1) and event.find(b"\n", nl + 1) < 0:
            return event[nl + 6 :].lstrip(b" ")
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    return lines[0] if len(lines) == 1 else b"\n".join(lines)


class NativeApi:
    """One wire API a dialect serves, as the forwarding lane needs it. Subclasses live in the dialect."""

    name: ClassVar[str]  # e.g. "anthropic.messages"; providers list the names they speak
    stream_content_type: ClassVar[str] = "text/event-stream"
    # client headers forwarded upstream when present (credentials never are, see NEVER_FORWARD)
    client_headers: ClassVar[tuple[str, ...]] = ()
    streams: ClassVar[bool] = True

    def prepare(self, body: RawBody, stream: bool) -> Any:
        """Changes every upstream of this API needs, whatever the route (e.g. asking for stream usage);
        the result is handed to `scanner`."""
        return None

    def apply(self, body: RawBody, config: ModelConfig, wants: Mapping[str, str]) -> None:
        """The model's configured defaults / overrides / system_prefix, on the raw fields. `wants` is the
        target's choice where the API has two names for a parameter (Provider.param_fields)."""

    def answer(self, data: bytes) -> tuple[Usage | None, str | None]:
        """A whole 2xx answer's tokens (as far as it says), and the message when it is in fact an error
        (some compatible servers answer 200 with an error body)."""
        return None, None

    def scanner(self, note: Any, client_model: str) -> StreamScan:
        return StreamScan()

    def stream_error(self, model: str, err: Any) -> bytes:
        """The in-stream error event for a failure after the answer started."""
        return b""

    def text_of(self, data: bytes) -> str:
        """The answer text in a whole answer or one stream event (only for traces with capture_content)."""
        return ""


def cap_max_tokens(current: Any, cap: Any) -> Any:
    """An override of max_tokens is a ceiling (as on the translated lane). A negative current value is
    Ollama's "no limit" (-1, -2), which the ceiling replaces."""
    if isinstance(current, int) and isinstance(cap, int) and current >= 0:
        return min(current, cap)
    return cap


def apply_fields(body: RawBody, config: ModelConfig) -> None:
    """The model's settings that are no shared parameter, as body fields of this API as written: a default
    where the client sent the field not, an override always (e.g. DeepSeek's `thinking`)."""
    for key, value in config.defaults.items():
        if key not in MODEL_PARAMS and not body.has(key):
            body.set(key, value)
    for key, value in config.overrides.items():
        if key not in MODEL_PARAMS:
            body.set(key, value)


def apply_params(
    body: RawBody,
    config: ModelConfig,
    names: Mapping[str, tuple[str, ...]],
    accept: Callable[[str, Any], bool] | None = None,
    wants: Mapping[str, str] | None = None,
) -> set[str]:
    """Defaults (where the client sent nothing), overrides (always; max_tokens as a ceiling) and the model's
    max_tokens, for the parameters this API has at the top level. `names` maps each unified parameter to
    the API's field names, the first being the one written unless the target `wants` another of them
    (OpenAI has two for the output cap; a field the client sent is the one capped, so never both);
    `accept` may refuse a value the API would reject with the rest of this body. Returns the fields written."""
    written: set[str] = set()
    if wants:
        names = {k: _wanted_first(v, wants.get(k)) for k, v in names.items()}

    def put(field: str, key: str, value: Any) -> None:
        if accept is None or accept(key, value):
            body.set(field, value)
            written.add(field)

    for key, value in config.defaults.items():
        fields = names.get(key)
        if fields and not any(body.has(f) for f in fields):
            put(fields[0], key, value)
    fields = names.get("max_tokens")
    if config.max_tokens is not None and fields and not any(body.has(f) for f in fields):
        put(fields[0], "max_tokens", config.max_tokens)
    for key, value in config.overrides.items():
        fields = names.get(key)
        if not fields:
            continue
        target = next((f for f in fields if body.has(f)), fields[0])
        if key == "max_tokens":
            value = cap_max_tokens(body.get(target), value)
        put(target, key, value)
    return written


def _wanted_first(fields: tuple[str, ...], wanted: str | None) -> tuple[str, ...]:
    if wanted is None or wanted == fields[0] or wanted not in fields:
        return fields
    return (wanted, *(f for f in fields if f != wanted))


def has_transforms(config: ModelConfig | None) -> bool:
    return config is not None and bool(config.defaults or config.overrides or config.system_prefix or config.max_tokens)
