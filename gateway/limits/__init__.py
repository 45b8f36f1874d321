"""Per-key limits: requests and tokens per minute (moving windows), concurrent requests, monthly tokens.

With `state.redis_url` every worker of every replica counts in one Redis: admitting a request is one Lua
script (one round trip) that checks every limit and takes a request slot and a concurrency lease
atomically; settling it (tokens used, lease returned) is a second one, only for keys that need it.
Without Redis the workers of one process group share a table in shared memory (`multiprocessing.Array`,
made by the main process), which is exact across those workers but forgets monthly usage on restart.
If Redis cannot be reached, requests keep flowing: each worker counts in that local table (a warning, a
metric), and tries Redis again a second later.

Windows are 60 one-second buckets, so they move every second and never reset on the clock minute. Tokens
are known only once a response is done, so the request that crosses a token limit completes and the next
one is refused."""

from gateway.limits.common import LIMIT_NAMES, Ticket, Verdict, duration, month_id
from gateway.limits.limiter import Limiter, release_redis_leases
from gateway.limits.local import LocalLimiter, shared_table
from gateway.limits.slots import SlotTable

__all__ = [
    "LIMIT_NAMES",
    "Limiter",
    "LocalLimiter",
    "SlotTable",
    "Ticket",
    "Verdict",
    "duration",
    "month_id",
    "release_redis_leases",
    "shared_table",
]
