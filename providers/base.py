"""The HTTP plumbing providers share (the interface itself is `unified.provider.Provider`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from unified.errors import GatewayError, upstream_status_error
from unified.provider import ModelInfo, Upstream
from unified.provider import Provider as ProviderInterface


class HTTPProvider(ProviderInterface):
    """A provider reached over HTTP through the worker's pooled session: base URL, headers built once,
    timeouts, and upstream errors turned into GatewayErrors with the upstream's own message."""

    default_base_url: ClassVar[str | None] = None

    def __init__(self, name: str, config: Any, options: Any, session: aiohttp.ClientSession | None) -> None:
        super().__init__(name, config, options, session)
        self.base_url = (config.base_url or self.default_base_url or "").rstrip("/")
        self.headers: dict[str, str] = {}  # set by each provider: auth, content type, config `headers`
        self._wire_headers: dict[str, CIMultiDictProxy[str]] = {}
        # sock_connect, not connect: with an unlimited pool there is no wait for a free connection, and
        # `connect` would arm one more timer on every request even when a kept-alive connection is reused.
        self.timeout = aiohttp.ClientTimeout(
            total=config.timeout, sock_connect=config.connect_timeout, sock_read=getattr(config, "read_timeout", None)
        )

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

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str], up: Upstream, *, stream: bool = False
    ) -> aiohttp.ClientResponse:
        """POST to the upstream; on an error status raise a GatewayError with the upstream's message.
        The caller owns the returned response and must release it."""
        assert self.session is not None, "provider used outside a running server"
        url = self.base_url + path
        extra = up.headers
        if extra:
            headers = CIMultiDict(headers)
            headers.update(extra)
        try:
            resp = await self.session.post(url, data=body, headers=headers, timeout=self.timeout)
        except TimeoutError:
            raise GatewayError("timeout", f"upstream {self.name!r} timed out", status=504) from None
        except aiohttp.ClientConnectorError as err:
            raise GatewayError(
                "upstream_unreachable", f"upstream {self.name!r} is unreachable ({err.strerror or 'connection failed'})"
            ) from None
        except aiohttp.ClientError as err:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} failed: {type(err).__name__}") from None
        if resp.status >= 400:
            try:
                data = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                data = b""
            finally:
                resp.release()
            headers_out = {k: v for k, v in resp.headers.items() if k.lower() in ("retry-after", "retry-after-ms")}
            raise upstream_status_error(resp.status, self.describe_error(resp.status, data), headers_out)
        return resp

    async def get_json(self, path: str, headers: dict[str, str]) -> Any:
        assert self.session is not None
        try:
            async with self.session.get(self.base_url + path, headers=headers, timeout=self.timeout) as resp:
                data = await resp.read()
                if resp.status >= 400:
                    raise upstream_status_error(resp.status, self.describe_error(resp.status, data))
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
            data = await resp.read()
        except TimeoutError:
            raise GatewayError("timeout", f"upstream {self.name!r} timed out", status=504) from None
        except aiohttp.ClientError:
            raise GatewayError("upstream_unreachable", f"upstream {self.name!r} dropped the connection") from None
        finally:
            resp.release()
        try:
            return msgspec.json.decode(data, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            message = error_message_from_body(data)
            if message:  # a 200 carrying an error body (some compatible servers do this)
                raise GatewayError("api_error", message, status=502) from None
            raise GatewayError(
                "api_error", f"upstream {self.name!r} sent an unreadable response: {err}", status=502
            ) from None


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


# The name adapters subclassed before the interface moved to unified.provider (issue #15).
Provider = HTTPProvider

__all__ = ["HTTPProvider", "ModelInfo", "Provider", "drop_none", "error_message_from_body"]
