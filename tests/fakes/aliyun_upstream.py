"""A fake DashScope OpenAI-compatible endpoint (`/compatible-mode/v1/...`): the strict fake
OpenAI plus DashScope's quirks.

  qwen3-*       hybrid thinking: streams reasoning_content unless enable_thinking is false, and refuses a
                non-streaming call unless enable_thinking is false (DashScope's real 400)
  qwq-*         stream-only model: a non-streaming call is a 400
  fail-NNN      that status with DashScope's error body (code + message + request_id)
  anything else as the fake OpenAI (echo, tools, images, usage)
Embeddings take at most 10 inputs per call, as DashScope's compatible embeddings do.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import API_KEY, FakeOpenAI

__all__ = ["API_KEY", "FakeAliyun"]

_CODES = {
    400: "invalid_parameter_error",
    401: "invalid_api_key",
    403: "access_denied",
    404: "model_not_found",
    429: "limit_requests",
    500: "internal_error",
}


def _dashscope_error(status: int, message: str, code: str | None = None) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": code or _CODES.get(status, "internal_error"),
                "param": None,
                "message": message,
                "type": "invalid_request_error" if status < 500 else "server_error",
            },
            "id": "chatcmpl-dashscope-fake",
            "request_id": "5a1f0a5e-fake",
        },
        status=status,
    )


class FakeAliyun(FakeOpenAI):
    def __init__(self) -> None:
        super().__init__()
        self.app.router.add_post("/compatible-mode/v1/chat/completions", self.compat_chat)
        self.app.router.add_post("/compatible-mode/v1/embeddings", self.compat_embeddings)
        self.app.router.add_get("/compatible-mode/v1/models", self.models)

    def _plan(self, body: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]], str]:
        text, reasoning, calls, finish = super()._plan(body)
        model = body["model"]
        if model.startswith(("qwen3", "qwq")) and body.get("enable_thinking") is not False:
            reasoning = "thinking hard"
        return text, reasoning, calls, finish

    async def compat_chat(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _dashscope_error(401, "Incorrect API key provided. ")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _dashscope_error(400, "<400> InternalError.Algo.InvalidParameter: Invalid JSON body")
        model = str(body.get("model", ""))
        if model.startswith("fail-"):
            status = int(model.split("-")[1])
            self.requests.append(body)
            return _dashscope_error(status, f"<{status}> dashscope says {status}")
        if "reasoning_effort" in body:
            self.requests.append(body)
            return _dashscope_error(400, "<400> InternalError.Algo.InvalidParameter: reasoning_effort is not supported")
        if not body.get("stream"):
            if model.startswith("qwq"):
                self.requests.append(body)
                return _dashscope_error(
                    400, "This model only support stream mode, please enable the stream parameter to access the model. "
                )
            if model.startswith("qwen3") and body.get("enable_thinking") is not False:
                self.requests.append(body)
                return _dashscope_error(
                    400,
                    "<400> InternalError.Algo.InvalidParameter: parameter.enable_thinking "
                    "must be set to false for non-streaming calls",
                )
        return await self.chat(request)

    async def compat_embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        inputs = body.get("input")
        if isinstance(inputs, list) and len(inputs) > 10:
            self.requests.append(body)
            return _dashscope_error(
                400,
                "<400> InternalError.Algo.InvalidParameter: Value error, batch size is "
                "invalid, it should not be larger than 10.",
            )
        return await self.embeddings(request)
