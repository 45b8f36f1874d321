"""Property tests (hypothesis) on each dialect's request decoding: bytes -> wire struct (gateway.handler.
decode_body) -> unified Request (the codec's `to_unified`). Whatever the body — random bytes, random JSON,
or bodies built from the wire structs themselves with wrong types, odd unicode and deep nesting mixed in —
the outcome is a decoded request or a GatewayError with a 4xx status; any other exception is a bug that
would be a 500 (or a crashed worker) on the wire."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialects import DIALECTS
from gateway.handler import decode_body
from unified.errors import GatewayError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# ---------------------------------------------------------------------------------------------- targets


def _targets() -> list[tuple[str, type, Callable[[Any], Any]]]:
    from dialects.ollama import codec as ollama
    from dialects.ollama import schema as ollama_wire
    from dialects.openai import codec as openai
    from dialects.openai import schema as openai_wire

    out: list[tuple[str, type, Callable[[Any], Any]]] = [
        ("openai.chat", openai_wire.ChatRequest, openai.to_unified),
        ("openai.embeddings", openai_wire.EmbeddingRequest, lambda body: body),
        ("ollama.chat", ollama_wire.ChatRequest, lambda body: ollama.chat_to_unified(body, True)),
        ("ollama.generate", ollama_wire.GenerateRequest, lambda body: ollama.generate_to_unified(body, False)),
        ("ollama.embed", ollama_wire.EmbedRequest, lambda body: body),
        ("ollama.show", ollama_wire.ShowRequest, lambda body: body),
    ]
    if "anthropic" in DIALECTS:
        from dialects.anthropic import codec as anthropic
        from dialects.anthropic import schema as anthropic_wire

        out += [
            ("anthropic.messages", anthropic_wire.MessagesRequest, anthropic.to_unified),
            ("anthropic.count_tokens", anthropic_wire.CountTokensRequest, anthropic.count_request),
        ]
    if "gemini" in DIALECTS:
        from dialects.gemini import codec as gemini
        from dialects.gemini import schema as gemini_wire

        out += [
            ("gemini.generate", gemini_wire.GenerateContentRequest, lambda body: gemini.to_unified(body, "m", True)),
            ("gemini.count_tokens", gemini_wire.CountTokensRequest, lambda body: gemini.count_request(body, "m")),
            ("gemini.batch_embed", gemini_wire.BatchEmbedContentsRequest, lambda body: body),
        ]
    return out


TARGETS = _targets()
IDS = [name for name, _, _ in TARGETS]


def run(body: bytes, type_: type, convert: Callable[[Any], Any]) -> None:
    """The property: a 4xx GatewayError or a result, nothing else."""
    request = types.SimpleNamespace(body=body, headers={"content-type": "application/json"})
    try:
        wire = decode_body(request, type_, msgspec.json.Decoder(type_))  # type: ignore[arg-type]
        convert(wire)
    except GatewayError as err:
        assert 400 <= err.status < 500, (err.status, err.message)
        assert err.message


# ---------------------------------------------------------------------------------------------- strategies

# Unicode that breaks naive code: surrogates are excluded (not encodable), everything else is fair game,
# with NULs, RTL marks, combining characters and emoji over-represented.
NASTY = st.one_of(
    st.sampled_from(
        [
            "",
            "\x00",
            "\u202e",
            "e\u0301",
            "\U0001f600",
            "\ufeff",
            "\\",
            '"',
            "null",
            "{}",
            "data: x\n\n",
            "\r\n",
            "${HOME}",
            "../../etc/passwd",
            "%s%n",
        ]
    ),
    st.integers(min_value=1000, max_value=100_000).map(lambda n: "a" * n),  # oversized strings
    st.integers(min_value=10, max_value=500).map(lambda n: "\U0001f4a5\u0301" * n),
)
TEXT = st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=40), NASTY)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False), TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=20,
)


def deep(depth: int) -> msgspec.Raw:
    """Nesting far past any sane body, as raw JSON (the encoder itself would refuse to build it)."""
    return msgspec.Raw(
        b'{"k":' * (depth // 2) + b"[" * (depth - depth // 2) + b"1" + b"]" * (depth - depth // 2) + b"}" * (depth // 2)
    )


DEEP = st.integers(min_value=50, max_value=5000).map(deep)


def for_type(t: mi.Type, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like `t`, with a wrong-typed or nasty value now and then."""
    if not depth:
        return _for_type(t, depth)
    wrong = st.one_of(JSON, DEEP) if depth < 3 else JSON
    good = _for_type(t, depth)
    # Mostly well-typed, so that bodies get past the decoder into the codec often enough.
    return st.integers(min_value=0, max_value=15).flatmap(lambda i: wrong if i == 0 else good)


def _for_type(t: mi.Type, depth: int) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.StructType):
        fields = {f.encode_name: for_type(f.type, depth + 1) for f in t.fields}
        required = {f.encode_name for f in t.fields if f.required}
        base = st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
        if t.tag_field is not None:
            base = base.map(lambda d, tf=t.tag_field, tag=t.tag: {tf: tag, **d})
        return base
    if isinstance(t, mi.UnionType):
        return st.one_of(*[_for_type(x, depth) for x in t.types])
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return st.lists(for_type(t.item_type, depth + 1), max_size=3 if depth < 4 else 1)
    if isinstance(t, mi.DictType):
        return st.dictionaries(TEXT, for_type(t.value_type, depth + 1), max_size=3)
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.StrType):
        return TEXT
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return st.one_of(st.integers(min_value=-5, max_value=10), st.integers(min_value=-(2**63), max_value=2**63 - 1))
    if isinstance(t, mi.FloatType):
        return st.one_of(st.floats(min_value=-2, max_value=3), st.floats(allow_nan=False))
    if isinstance(t, mi.NoneType):
        return st.none()
    return JSON  # Any and the rest


def shaped(type_: type) -> st.SearchStrategy[bytes]:
    return _for_type(mi.type_info(type_), 0).map(msgspec.json.encode)


# ---------------------------------------------------------------------------------------------- properties


@pytest.mark.parametrize("name,type_,convert", TARGETS, ids=IDS)
def test_random_bytes(name: str, type_: type, convert: Callable[[Any], Any]) -> None:
    @FUZZ
    @given(
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b"[]",
                    b"null",
                    b"\xff\xfe{}",
                    b'{"a":1}x',
                    b"{" * 10000,
                    b"[" * 100000,
                    b'{"model": "\xc3"}',
                ]
            ),
        )
    )
    def prop(body: bytes) -> None:
        run(body, type_, convert)

    prop()


@pytest.mark.parametrize("name,type_,convert", TARGETS, ids=IDS)
def test_random_json(name: str, type_: type, convert: Callable[[Any], Any]) -> None:
    @FUZZ
    @given(
        st.one_of(
            JSON,
            DEEP,
            st.dictionaries(
                st.sampled_from(["model", "messages", "prompt", "input", "stream", "tools", "system", "max_tokens"]),
                st.one_of(JSON, DEEP),
            ),
        )
    )
    def prop(value: Any) -> None:
        run(msgspec.json.encode(value), type_, convert)

    prop()


@pytest.mark.parametrize("name,type_,convert", TARGETS, ids=IDS)
def test_shaped_bodies(name: str, type_: type, convert: Callable[[Any], Any]) -> None:
    @FUZZ
    @given(shaped(type_))
    def prop(body: bytes) -> None:
        run(body, type_, convert)

    prop()


def test_deep_nesting_is_a_400_not_a_500() -> None:
    from dialects.openai import schema

    body = (
        b'{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":'
        b'{"name":"f","parameters":{"a":' + b"[" * 5000 + b"]" * 5000 + b"}}}]}"
    )
    with pytest.raises(GatewayError) as info:
        decode_body(types.SimpleNamespace(body=body, headers={"content-type": "application/json"}), schema.ChatRequest)  # type: ignore[arg-type]
    assert info.value.status == 400 and "nested" in info.value.message
