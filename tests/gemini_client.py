"""The google-genai SDK as a matrix client (tests/test_matrix.py): the same asks as the other clients,
through the gateway's Gemini dialect."""

from __future__ import annotations

import base64
from typing import Any

from google import genai
from google.genai import types


class GeminiClient:
    FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}

    def __init__(self, url: str, pixel: str, weather_schema: dict[str, Any], result: Any, call: Any) -> None:
        self.sdk = genai.Client(
            api_key="unused", http_options=types.HttpOptions(base_url=url + "/gemini", api_version="v1beta")
        )
        self.pixel = base64.b64decode(pixel)
        self.schema = weather_schema
        self.Result = result
        self.Call = call

    def _user(self, user: str, image: bool) -> types.Content:
        parts = [types.Part(text=user)]
        if image:
            parts.append(types.Part.from_bytes(data=self.pixel, mime_type="image/png"))
        return types.Content(role="user", parts=parts)

    def _run(self, model: str, contents: list[types.Content], system: str | None, tools: bool, stream: bool) -> Any:
        config = types.GenerateContentConfig(
            system_instruction=system,
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="get_weather", description="Weather", parameters_json_schema=self.schema
                        )
                    ]
                )
            ]
            if tools
            else None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        res = self.Result()
        chunks = (
            list(self.sdk.models.generate_content_stream(model=model, contents=contents, config=config))
            if stream
            else [self.sdk.models.generate_content(model=model, contents=contents, config=config)]
        )
        finish = ""
        for chunk in chunks:
            for cand in chunk.candidates or []:
                for part in (cand.content.parts if cand.content else None) or []:
                    if part.function_call is not None:
                        fc = part.function_call
                        res.calls.append(self.Call(fc.id or "", fc.name or "", dict(fc.args or {})))
                    elif part.text and not part.thought:
                        res.text += part.text
                        res.pieces += 1
                if cand.finish_reason:
                    finish = cand.finish_reason.value
            u = chunk.usage_metadata
            if u is not None and u.prompt_token_count is not None:
                res.usage = (u.prompt_token_count, (u.candidates_token_count or 0) + (u.thoughts_token_count or 0))
        res.finish = "tool_calls" if res.calls and finish == "STOP" else self.FINISH.get(finish, finish)
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
        calls = [
            types.Part(function_call=types.FunctionCall(id=c.id or None, name=c.name, args=c.args)) for c in first.calls
        ]
        answers = [
            types.Part(
                function_response=types.FunctionResponse(id=c.id or None, name=c.name, response={"output": output})
            )
            for c in first.calls
        ]
        contents = [
            self._user(user, False),
            types.Content(role="model", parts=calls),
            types.Content(role="user", parts=answers),
        ]
        return self._run(model, contents, None, True, stream)
