"""A fake OpenTelemetry collector: OTLP/HTTP `POST /v1/traces` (protobuf, gzip or not), decoded with the
official proto definitions into plain dicts the tests can read."""

from __future__ import annotations

import gzip
import threading
import time
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, which) if which else None


class FakeCollector:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = web.Application()
        self.app.router.add_post("/v1/traces", self.traces)

    async def traces(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415, text="expected application/x-protobuf")
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(body)
        with self.lock:
            for rs in msg.resource_spans:
                resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                self.resources.append(resource)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(
                            {
                                "name": s.name,
                                "trace_id": s.trace_id.hex(),
                                "span_id": s.span_id.hex(),
                                "parent_span_id": s.parent_span_id.hex(),
                                "kind": KINDS.get(s.kind, str(s.kind)),
                                "attributes": {a.key: _value(a.value) for a in s.attributes},
                                "status": s.status.code,  # 0 unset, 1 ok, 2 error
                                "start": s.start_time_unix_nano,
                                "end": s.end_time_unix_nano,
                                "scope": ss.scope.name,
                                "resource": resource,
                            }
                        )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    def trace(self, trace_id: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The spans of one trace, once at least `count` of them have arrived (the gateway exports in batches
        about every second)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [s for s in self.spans if s["trace_id"] == trace_id]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
