"""Gateway keys: who is calling, and which models they may use.

The key table is built once from `auth.keys`: each entry is found by the sha256 of the key, so a key may be
written in the config as `key_sha256` and the file holds no secret. A presented key is hashed and looked
up in a dict, then confirmed with a constant-time compare; the key itself is never kept, logged or sent
upstream (providers build their own headers) — only the entry's `name` is."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from fnmatch import translate
from typing import Any

from sanic import Request

import dialects
from gateway.call import Call
from gateway.config import Config, KeyConfig, dialect_settings
from gateway.limits import Limiter, Ticket
from unified.errors import GatewayError


class Key:
    """One configured key, as the hot path needs it."""

    __slots__ = (
        "allow",
        "budget",
        "digest",
        "expires",
        "index",
        "limited",
        "max_concurrency",
        "monthly_tokens",
        "name",
        "rpm",
        "tpm",
    )

    def __init__(self, cfg: KeyConfig, index: int) -> None:
        self.name = cfg.name
        self.index = index  # slot in the in-process limiter's shared table
        self.digest = bytes.fromhex(cfg.key_sha256) if cfg.key_sha256 else hashlib.sha256(cfg.key.encode()).digest()  # type: ignore[union-attr]
        # One compiled regex for all globs; None = every model. Case-sensitive, like model names upstream.
        self.allow = re.compile("|".join(translate(p) for p in cfg.models)).match if cfg.models else None
        self.rpm = cfg.rpm
        self.tpm = cfg.tpm
        self.max_concurrency = cfg.max_concurrency
        self.monthly_tokens = cfg.monthly_tokens
        self.limited = bool(cfg.rpm or cfg.tpm or cfg.max_concurrency or cfg.monthly_tokens)
        self.budget = cfg.budget  # dollars per day or month (gateway.budget), None = no budget
        self.expires: float | None = None  # database keys may expire (gateway.store.keys)


DEFAULT_FORMS = ("authorization", "x-api-key")


class KeyTable:
    """The keys of the config file, plus those of the database (gateway.store.keys builds the table again
    whenever they change). Without `auth:`, keys are checked only once the database has held one."""

    def __init__(self, cfg: Config, extra: list[Key] | None = None, enforced: bool = True) -> None:
        self.keys = [Key(k, i) for i, k in enumerate(cfg.auth.keys)] if cfg.auth is not None else []
        self.keys.extend(extra or ())
        self.by_digest = {k.digest: k for k in self.keys}
        self.enforced = enforced or cfg.auth is not None
        # Dialects opened without a key (`dialects.<name>.auth: false`), e.g. Ollama for a local editor.
        self.open_dialects = frozenset(d for d in dialects.names() if not dialect_settings(cfg, d).auth)
        self.forms = {d.name: d.key_headers for d in dialects.descriptors()}

    def lookup(self, presented: str) -> Key | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        key = self.by_digest.get(digest)
        if key is not None and hmac.compare_digest(key.digest, digest):
            if key.expires is not None and key.expires <= time.time():
                raise GatewayError("authentication", f"The key {key.name!r} has expired.")
            return key
        return None

    def authenticate(self, request: Request, forms: tuple[str, ...] = DEFAULT_FORMS) -> Key:
        """The caller's key from the headers its dialect uses (`Dialect.key_headers`; "authorization"
        means `Authorization: Bearer <key>`), tried in that order."""
        headers = request.headers
        presented = [(form, request.args.get(form[1:]) if form[0] == "?" else headers.get(form)) for form in forms]
        if all(value is None for _, value in presented):
            wanted = " or ".join(_form_hint(f) for f in forms)
            raise GatewayError("authentication", f"Missing API key: send your gateway key as {wanted}.")
        for form, value in presented:
            if value is None:
                continue
            if form == "authorization":
                scheme, _, value = value.strip().partition(" ")
                if scheme.lower() != "bearer":
                    continue
            value = value.strip()
            if value:
                key = self.lookup(value)
                if key is not None:
                    return key
        raise GatewayError("authentication", "Invalid API key: this key is not known to the gateway.")


def _form_hint(form: str) -> str:
    if form == "authorization":
        return "`Authorization: Bearer <key>`"
    if form[0] == "?":
        return f"`?{form[1:]}=<key>`"
    return f"`{form}: <key>`"


def check_model_access(call: Call, model: str) -> None:
    """403 when the caller's key may not use `model` (globs match the name as the client wrote it,
    `provider/model` included). Called by dispatch before any upstream work."""
    allow = call.allow
    if allow is not None and allow(model) is None:
        raise GatewayError(
            "permission",
            f"The key {call.key_name!r} is not allowed to use the model `{model}`.",
            param="model",
            code="model_not_allowed",
        )


class Guard:
    """The access check every dialect endpoint runs (gateway.handler): key, limits, then per-key usage."""

    def __init__(self, cfg: Config, table: KeyTable, limiter: Limiter, metrics: Any, budgets: Any = None) -> None:
        self.table = table
        self.limiter = limiter
        self.budgets = budgets  # gateway.budget.Budgets
        self.metrics = metrics
        self.open_dialects = table.open_dialects

    async def enter(self, request: Request, call: Call) -> Ticket | None:
        """Authenticate (401) and admit (429); returns the ticket to settle, if limits apply."""
        table = self.table  # swapped whole when keys change (gateway.store.keys)
        if call.dialect in table.open_dialects or not table.enforced:
            return None
        key = table.authenticate(request, table.forms.get(call.dialect, DEFAULT_FORMS))
        call.key_name = key.name
        call.allow = key.allow
        # Listings and metadata (GET) do not count against a key's limits: only model calls do.
        if request.method == "GET":
            return None
        if key.budget is not None:  # first, so a spent budget takes no rate-limit slot
            call.budget, call.limit_headers = await self.budgets.admit(key)
        if not key.limited:
            return None
        ticket, headers = await self.limiter.admit(key, call.request_id)
        if call.limit_headers:
            headers.update(call.limit_headers)
        call.limit_headers = headers
        return ticket

    async def leave(self, call: Call, ticket: Ticket | None, cancelled: bool) -> None:
        """After the response (for streams: after the last byte): usage metrics, tokens and slot back."""
        name = call.key_name
        if name is not None:
            m = self.metrics
            model = call.model_label
            m.child(m.key_requests, name, model, str(call.status)).inc()
            tin, tout = call.input_tokens, call.output_tokens
            if tin:
                m.child(m.key_tokens, name, model, "input").inc(tin)
            if tout:
                m.child(m.key_tokens, name, model, "output").inc(tout)
            if call.cost is not None:
                m.child(m.key_cost, name, model).inc(call.cost)
                if call.budget is not None and call.cost > 0:
                    if cancelled:
                        self.budgets.charge_later(call.budget, call.cost)
                    else:
                        pending = self.budgets.charge(call.budget, call.cost)
                        if pending is not None:
                            await pending
        if ticket is None:
            return
        tokens = call.input_tokens + call.output_tokens
        if cancelled:
            self.limiter.settle_later(ticket, tokens)
            return
        pending = self.limiter.settle(ticket, tokens)
        if pending is not None:
            await pending
