"""The `api: responses` mode of the `openai` provider, against the strict fake Responses API
(tests/fakes/responses_upstream.py), seen through the OpenAI chat, Anthropic and Ollama SDKs; and first the
fake itself, checked with the official OpenAI SDK so the tests below stand on a faithful upstream."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.responses_upstream import API_KEY, FakeResponses

WEATHER_FN = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "strict": False,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def direct(fake_responses: FakeResponses) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_responses.url, api_key=API_KEY, max_retries=0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- the fake


def test_fake_stream_is_the_real_event_sequence(direct: openai.OpenAI) -> None:
    with direct.responses.stream(
        model="reasoning", input="hi", include=["reasoning.encrypted_content"], store=False
    ) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert types.count("response.output_item.added") == types.count("response.output_item.done") == 2
    assert "response.reasoning_summary_text.delta" in types and "response.output_text.delta" in types
    assert final.output_text == "echo: hi"
    assert final.output[0].type == "reasoning" and final.output[0].encrypted_content
    assert final.usage is not None and final.usage.input_tokens_details.cached_tokens == 4


def test_fake_tool_round_trip_and_pairing(direct: openai.OpenAI) -> None:
    first = direct.responses.create(model="gpt-resp", input="weather?", tools=[WEATHER_FN])  # type: ignore[list-item]
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    history = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = direct.responses.create(model="gpt-resp", input=history, tools=[WEATHER_FN])  # type: ignore[arg-type, list-item]
    assert second.output_text == "got: sunny"
    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        direct.responses.create(model="gpt-resp", input=history[:2], tools=[WEATHER_FN])  # type: ignore[arg-type, list-item]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 10}, "Unknown parameter: 'max_tokens'"),
        ({"max_output_tokens": 5}, "max_output_tokens"),
        ({"tools": [{**WEATHER_FN, "strict": None}]}, "additionalProperties"),
        ({"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]}, "'input_text'"),
        (
            {"input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "EqQBsig"}]},
            "could not be verified",
        ),
    ],
)
def test_fake_refuses_what_the_real_api_refuses(direct: openai.OpenAI, kwargs: dict, message: str) -> None:
    body = {"model": "gpt-resp", "input": "hi", **kwargs}
    with pytest.raises(openai.BadRequestError, match=message):
        direct.post("/responses", body=body, cast_to=object)
