"""Counting what the translated lane leaves out: the client fields of a request (Request.droppable, named
from unified.fields by the dialect's decoder) that the provider answering it does not send on
(Provider.carries), once per request, in `llm_link_dropped_fields_total{dialect,provider,field}` and a
debug log line. The forwarding lane sends the client's body as it came and drops nothing."""

from __future__ import annotations

import logging

from gateway.call import Call
from gateway.router import Target

log = logging.getLogger("llm_link")


def count(call: Call, target: Target, fields: tuple[str, ...]) -> None:
    metrics = call.metrics
    if not fields or metrics is None:
        return
    carries = target.carries
    if len(fields) > 1:  # a request may name one field more than once (two hosted MCP tools): count it once
        fields = tuple(dict.fromkeys(fields))
    for field in fields:
        if field in carries:
            continue
        log.debug("%s: dropped %s for %s", call.dialect, field, target.provider_name)
        metrics.child(metrics.dropped_fields, call.dialect, target.provider_name, field).inc()
