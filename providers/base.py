"""The HTTP plumbing providers share (the interface itself is `unified.provider.Provider`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from providers.deadlines import Deadlines
from unified.errors import GatewayError, upstream_status_error
from unified.provider import PASSED_RESPONSE_HEADERS, ModelInfo, Upstream, UpstreamStatusError
from unified.provider import Provider as ProviderInterface
from unified.redact import ERROR_BODY_CAP, Redactor, cap_text


class HTTPProvider(ProviderInterface):
    """A provider reached over HTTP through the worker's pooled session: base URL, headers built once,
    timeouts, and upstream errors turned into GatewayErrors with the upstream's own message."""

    default_base_url: ClassVar[str | None] = None

    def __init__(self, name: str, config: Any, options: Any, session: aiohttp.ClientSession | None) -> None:
        super().__init__(name, config, options, session)
        self.base_url = (config.base_url or self.default_base_url or "").rstrip("/")
        self.headers: dict[str, str] = {}  # set by each provider: auth, content type, config `headers`
        # Masks this provider's own key (and configured header values) in upstream text shown to anyone.
        self.redact = Redactor([config.api_key, *config.headers.values()])
        self.max_response_bytes: int = getattr(config, "max_response_bytes", 64 * 1024 * 1024)
        self._wire_headers: dict[str, CIMultiDictProxy[str]] = {}
        # sock_connect, not connect: with an unlimited pool there is no wait for a free connection, and
        # `connect` would arm one more timer on every request even when a kept-alive connection is reused.
        read_timeout = getattr(config, "read_timeout", None)
        self.timeout = aiohttp.ClientTimeout(
            total=config.timeout, sock_connect=config.connect_timeout, sock_read=read_timeout
        )
        # In a running worker the whole-call `timeout` is kept by the worker's sweeper (providers.deadlines,
        # set by gateway.app) instead of one aiohttp timer per call; aiohttp then only gets the timeouts
        # that cost nothing on a reused connection (sock_connect) or that were asked for (sock_read).
        self.total_timeout: float = config.timeout
        self.call_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout, sock_read=read_timeout
        )
        self.deadlines: Deadlines | None = None

    @classmethod
    def check_config(cls, config: Any) -> list[str]:
        if cls.default_base_url is None and not config.base_url:
            return [f"base_url: required for {cls.type} providers"]
        return []

    # ------------------------------------------------------------------------------------------- plumbing

    def headers_for(self, accept: str = "application/json") -> CIMultiDictProxy[str]:
        """The provider's request headers with this Accept, built once: aiohttp would otherwise turn a
        plain dict into a multidict on every request."""
        built = self._wire_headers.get(accept)
        if built is None:
            built = self._wire_headers[accept] = CIMultiDictProxy(CIMultiDict({**self.headers, "Accept": accept}))
        return built

    def describe_error(self, status: int, body: bytes) -> str:
        """The upstream's own message from an error body; providers with odd shapes override this."""
        return error_message_from_body(body) or f"upstream returned HTTP {status}"

    def upstream_error(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> GatewayError:
        """An upstream error status as a GatewayError: its message capped and the provider's key masked."""
        message = cap_text(self.redact(self.describe_error(status, body[:ERROR_BODY_CAP])))
        return upstream_status_error(status, message, headers)

    def redirect_error(self, status: int) -> GatewayError:
        # Following a redirect would re-send the key and the prompt to wherever it points.
        return GatewayError(
            "api_error",
            f"upstream {self.name!r} answered with a redirect (HTTP {status}); redirects are not followed",
            status=502,
            retryable=False,
        )

    def forward(
        self, path: str, body: bytes, client_headers: Mapping[str, str], up: Upstream, *, stream: bool
    ) -> Awaitable[aiohttp.ClientResponse]:
        """POST a client's body as-is. `client_headers` (already filtered of credentials) go with the
        provider's own: a `*-beta` header is the union of both lists, any other the client's value.
        A plain function handing back `post`'s coroutine: no coroutine of its own per request."""
        headers: Mapping[str, str] = self.headers_for("text/event-stream" if stream else "application/json")
        if client_headers:
            merged = CIMultiDict(headers)
            for name, value in client_headers.items():
                mine = merged.get(name)
                if mine and name.lower().endswith("-beta"):
                    have = [v.strip() for v in mine.split(",")]
                    value = ",".join(have + [v for v in (x.strip() for x in value.split(",")) if v and v not in have])
                merged[name] = value
            headers = merged
        return self.post(path, body, headers, up, stream=stream, raw_errors=True)

    async def post(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        up: Upstream,
        *,
        stream: bool = False,
        raw_errors: bool = False,
    ) -> aiohttp.ClientResponse:
        """POST to the upstream; on an error status raise a GatewayError with the upstream's message (with
        `raw_errors`, an UpstreamStatusError that also keeps the body, capped and masked, to pass on). The
        caller owns the returned response and must release it."""
        assert self.session is not None, "provider used outside a running server"
        url = self.base_url + path
        extra = up.headers
        if extra:
            headers = CIMultiDict(headers)
            headers.update(extra)
        deadlines = self.deadlines
        session = self.session
        try:
            if deadlines is None:
                resp = await session.post(url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False)
            else:
                # The call's deadline is held by the worker's sweeper (inline, not a coroutine of its own):
                # until the headers arrive an expiry cancels this task (turned into TimeoutError here);
                # after, the body's reads fail with TimeoutError. The deadline is forgotten when the
                # response releases its connection.
                entry = deadlines.add(self.total_timeout)
                try:
                    resp = await session.post(
                        url, data=body, headers=headers, timeout=self.call_timeout, allow_redirects=False
                    )
                except asyncio.CancelledError:
                    entry.drop()
                    task = entry.task
                    if entry.fired and task is not None and task.uncancel() == 0:
                        raise TimeoutError from None
                    raise  # the client went away (or the worker is stopping)
                except BaseException:
                    entry.drop()
                    raise
                if entry.fired:  # expired just as the answer arrived: the cancel is still pending for this task
                    entry.drop()
                    resp.close()
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        if entry.task is not None and entry.task.uncancel() != 0:
                            raise
                    raise TimeoutError
                connection = resp.connection
                if connection is None:  # the whole body is already here: nothing left to wait for
                    entry.drop()
                else:
                    entry.resp = resp
                    connection.add_callback(entry.drop)
        except TimeoutError:
            raise GatewayError("timeout", f"upstream {self.name!r} timed out", status=504) from None
        except aiohttp.ClientConnectorError as err:
            raise GatewayError(
                "upstream_unreachable", f"upstream {self.name!r} is unreachable ({err.strerror or 'connection failed'})"
            ) from None
        except aiohttp.ClientError as err:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} failed: {type(err).__name__}") from None
        if resp.status >= 300:
            if resp.status < 400:
                resp.close()
                raise self.redirect_error(resp.status)
            try:
                data = await read_at_most(resp, ERROR_BODY_CAP)
            except (TimeoutError, aiohttp.ClientError):
                data = b""
            finally:
                resp.close()  # the rest of an oversized error body is not read: drop the connection
            headers_out = {k: v for k, v in resp.headers.items() if k.lower() in PASSED_RESPONSE_HEADERS}
            failure = self.upstream_error(resp.status, data, headers_out)
            if raw_errors and len(data) < ERROR_BODY_CAP:  # a capped body would be broken JSON: the message then
                content_type = resp.headers.get("Content-Type", "application/json")
                masked = self.redact(data.decode("utf-8", "replace")).encode()
                raise UpstreamStatusError(failure, masked, content_type)
            raise failure
        return resp

    async def get_json(self, path: str, headers: dict[str, str]) -> Any:
        assert self.session is not None
        try:
            async with self.session.get(
                self.base_url + path, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as resp:
                if 300 <= resp.status < 400:
                    raise self.redirect_error(resp.status)
                if resp.status >= 400:
                    raise self.upstream_error(resp.status, await read_at_most(resp, ERROR_BODY_CAP))
                data = await self.read_capped(resp)
                return msgspec.json.decode(data)
        except TimeoutError:
            raise GatewayError("timeout", f"upstream {self.name!r} timed out", status=504) from None
        except aiohttp.ClientError:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} is unreachable") from None
        except msgspec.DecodeError:
            raise GatewayError("api_error", f"upstream {self.name!r} sent invalid JSON", status=502) from None

    async def read_json(self, resp: aiohttp.ClientResponse, type_: Any) -> Any:
        """Read and decode a whole (non-streaming) upstream body into `type_`."""
        try:
            data = await self.read_capped(resp)
        except TimeoutError:
            raise GatewayError("timeout", f"upstream {self.name!r} timed out", status=504) from None
        except aiohttp.ClientError:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} dropped the connection") from None
        finally:
            resp.release()
        try:
            return msgspec.json.decode(data, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            message = error_message_from_body(data[:ERROR_BODY_CAP])
            if message:  # a 200 carrying an error body (some compatible servers do this)
                raise GatewayError("api_error", cap_text(self.redact(message)), status=502) from None
            raise GatewayError(
                "api_error", f"upstream {self.name!r} sent an unreadable response: {err}", status=502
            ) from None

    def mask(self, text: str) -> str:
        return self.redact(text)

    async def read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """A whole non-streaming body, or a 502 when it is over `max_response_bytes`."""
        limit = self.max_response_bytes
        length = resp.content_length
        if length is not None and length <= limit:
            return await resp.read()
        if length is None:
            data = await read_at_most(resp, limit + 1)
            if len(data) <= limit:
                return data
        resp.close()
        raise GatewayError(
            "api_error",
            f"upstream {self.name!r} sent a response over providers.{self.name}.max_response_bytes ({limit} bytes)",
            status=502,
            retryable=False,
        )


async def read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to `limit` bytes of a body, however it is framed."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def error_message_from_body(body: bytes) -> str | None:
    """Pull the human message out of the error bodies upstreams send: OpenAI/Anthropic {"error": {"message"}},
    Ollama {"error": "..."}, DashScope native {"message"}; plain text as a last resort."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return data["message"]
    return None


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    """A wire object without its unset (None) fields."""
    return {k: v for k, v in d.items() if v is not None}


__all__ = ["HTTPProvider", "ModelInfo", "drop_none", "error_message_from_body"]
