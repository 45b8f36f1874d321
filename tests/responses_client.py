"""The OpenAI SDK's Responses API as a matrix client (tests/test_matrix.py): the same asks as the other
clients, through the gateway's `/v1/responses` dialect."""

from __future__ import annotations

import json
from typing import Any

import openai


class ResponsesClient:
    def __init__(self, url: str, pixel: str, weather_schema: dict[str, Any], result: Any, call: Any) -> None:
        self.sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        self.pixel = pixel
        self.tools = [
            {"type": "function", "name": "get_weather", "description": "Weather", "parameters": weather_schema}
        ]
        self.Result = result
        self.Call = call

    def _user(self, user: str, image: bool) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "input_text", "text": user}]
        if image:
            content.append({"type": "input_image", "image_url": f"data:image/png;base64,{self.pixel}"})
        return {"role": "user", "content": content}

    def _read(self, response: Any, res: Any) -> None:
        for item in response.output:
            if item.type == "function_call":
                res.calls.append(self.Call(item.call_id, item.name, json.loads(item.arguments or "{}")))
        if response.status == "incomplete":
            res.finish = "length"
        else:
            res.finish = "tool_calls" if res.calls else "stop"
        if response.usage is not None:
            res.usage = (response.usage.input_tokens, response.usage.output_tokens)

    def _run(self, model: str, items: list[dict[str, Any]], system: str | None, tools: bool, stream: bool) -> Any:
        kw: dict[str, Any] = {"model": model, "input": items, "store": False}
        if system:
            kw["instructions"] = system
        if tools:
            kw["tools"] = self.tools
        res = self.Result()
        if not stream:
            r = self.sdk.responses.create(**kw)
            res.text = r.output_text
            self._read(r, res)
            return res
        final = None
        for event in self.sdk.responses.create(stream=True, **kw):
            if event.type == "response.output_text.delta":
                res.text += event.delta
                res.pieces += 1
            elif event.type in ("response.completed", "response.incomplete"):
                final = event.response
        assert final is not None, "a Responses stream ends with response.completed"
        self._read(final, res)
        return res

    def ask(
        self,
        model: str,
        user: str,
        *,
        system: str | None = None,
        image: bool = False,
        tools: bool = False,
        stream: bool = False,
    ) -> Any:
        return self._run(model, [self._user(user, image)], system, tools, stream)

    def answer_tool(self, model: str, user: str, first: Any, output: str, stream: bool) -> Any:
        items: list[dict[str, Any]] = [self._user(user, False)]
        items += [
            {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": json.dumps(c.args)}
            for c in first.calls
        ]
        items += [{"type": "function_call_output", "call_id": c.id, "output": output} for c in first.calls]
        return self._run(model, items, None, True, stream)
