"""A fake OpenAI Realtime API (`GET /v1/realtime?model=...` upgraded): 401 before the upgrade without its
key, `session.created` first, and for each `response.create` a text answer echoing the last user text
(`response.created`, `response.output_text.delta`, `response.output_text.done`, `response.done` with
usage). Binary frames come back as they went. A user text `hang up <code>` makes it close the connection
with that code, so tests see close codes passed on. It records what it saw (models, headers, close codes).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import WSMsgType, web

API_KEY = "sk-fake-realtime-key-789"
INPUT_TOKENS = 11
OUTPUT_TOKENS = 5


class FakeRealtime:
    def __init__(self) -> None:
        self.models: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.client_close_codes: list[int | None] = []
        self.received: list[Any] = []
        self.app = web.Application()
        self.app.router.add_get("/v1/realtime", self.realtime)

    async def realtime(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response(
                {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}, status=401
            )
        model = request.query.get("model", "")
        self.models.append(model)
        self.headers.append(dict(request.headers))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        n = 0

        async def send(event: dict[str, Any]) -> None:
            nonlocal n
            n += 1
            await ws.send_str(json.dumps({"event_id": f"event_{n}", **event}))

        await send(
            {"type": "session.created", "session": {"id": "sess_1", "object": "realtime.session", "model": model}}
        )
        last_text = ""
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                self.received.append(msg.data)
                await ws.send_bytes(msg.data)
                continue
            if msg.type != WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            self.received.append(event)
            kind = event.get("type")
            if kind == "session.update":
                await send({"type": "session.updated", "session": {"id": "sess_1", **event.get("session", {})}})
            elif kind == "conversation.item.create":
                item = event.get("item", {})
                for part in item.get("content", []):
                    if part.get("type") == "input_text":
                        last_text = part["text"]
                if last_text.startswith("hang up "):
                    await ws.close(code=int(last_text.split()[2]), message=b"bye")
                    break
                await send({"type": "conversation.item.created", "item": {"id": "item_1", **item}})
            elif kind == "response.create":
                text = f"echo: {last_text}"
                await send({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}})
                await send(
                    {
                        "type": "response.output_text.delta",
                        "response_id": "resp_1",
                        "item_id": "item_2",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": text,
                    }
                )
                await send(
                    {
                        "type": "response.output_text.done",
                        "response_id": "resp_1",
                        "item_id": "item_2",
                        "output_index": 0,
                        "content_index": 0,
                        "text": text,
                    }
                )
                await send(
                    {
                        "type": "response.done",
                        "response": {
                            "id": "resp_1",
                            "object": "realtime.response",
                            "status": "completed",
                            "usage": {
                                "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
                                "input_tokens": INPUT_TOKENS,
                                "output_tokens": OUTPUT_TOKENS,
                                "input_token_details": {"cached_tokens": 0},
                            },
                        },
                    }
                )
        self.client_close_codes.append(ws.close_code)
        return ws
