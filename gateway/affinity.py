"""`affinity: session`: one conversation stays on one target, so the upstream's prompt cache keeps working.

The target is chosen by weighted rendezvous (highest-random-weight) hashing of a session key against each
target's `provider/model`: every worker and every replica ranks the targets the same way for the same key,
with no shared state; a session whose first target is unhealthy goes to its second, and comes back when the
first heals; adding or removing a target moves only the sessions that rank it first; and over many sessions
each target gets its share of the weights (score = -weight / ln(u), u uniform in (0, 1) from the hash)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from hashlib import blake2b
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.router import Target

# Where a session key comes from, most specific first; body fields (prompt_cache_key, Anthropic
# metadata.user_id, OpenAI `user`) follow in that order, passed by each dialect from what it decoded.
SESSION_HEADERS = ("x-session-id", "x-claude-code-session-id")
_U64 = float(1 << 64)


def session_key(headers: Mapping[str, str], fields: Iterable[str | None] = ()) -> bytes | None:
    """An 8-byte digest of the first present key, or None (no session: the usual weighted choice). Only the
    digest is kept, so the client's string is never stored, logged or used as a label."""
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value:
            return _digest(value)
    for value in fields:
        if value:
            return _digest(value)
    return None


def _digest(value: str) -> bytes:
    # surrogatepass: a JSON string may carry a lone \ud800 escape, which plain UTF-8 refuses to encode.
    return blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8, person=b"llm-link-sess").digest()


class Rendezvous:
    """A route's targets with their hash seeds, made once per route; `rank` orders them for one session."""

    __slots__ = ("_seeds", "targets")

    def __init__(self, targets: Sequence[Target]) -> None:
        self.targets = list(targets)
        # Seeded by the target's label, not its position: reordering the list in the config moves no session.
        self._seeds = [blake2b(t.label.encode("utf-8", "surrogatepass"), digest_size=8) for t in self.targets]

    def scores(self, key: bytes) -> list[float]:
        out = []
        for target, seed in zip(self.targets, self._seeds):
            h = seed.copy()
            h.update(key)
            u = (int.from_bytes(h.digest(), "big") + 0.5) / _U64  # in (0, 1), never 0 or 1
            out.append(-target.weight / math.log(u))
        return out

    def rank(self, key: bytes) -> list[Target]:
        """The targets, best first for this session key (ties, which need equal hashes, keep config order)."""
        scores = self.scores(key)
        order = sorted(range(len(self.targets)), key=lambda i: -scores[i])
        return [self.targets[i] for i in order]


def pick(ranked: Sequence[Target], tried: Sequence[Target], now: float) -> Target:
    """The best-ranked target that is healthy and not tried yet; then the best healthy one again; an
    unhealthy one only when nothing is healthy (as the weighted choice does, in rank order)."""
    first_untried = None
    first_healthy = None
    for t in ranked:
        healthy = t.circuit.available(now)
        untried = t not in tried
        if healthy and untried:
            return t
        if healthy and first_healthy is None:
            first_healthy = t
        if untried and first_untried is None:
            first_untried = t
    return first_healthy or first_untried or ranked[0]
