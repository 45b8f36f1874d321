"""Downloading an image URL a client sent, for upstreams that take only inline images.

This is the one place the gateway fetches a URL a client names, so it is done on a short leash: only when
the provider asks for it (`providers.X.fetch_images`), http(s) only, never to a loopback, private,
link-local, multicast or otherwise non-public address (checked after DNS resolution, on every redirect
hop, also for IP literals, which aiohttp does not resolve), at most `max_image_bytes` within
`image_timeout`. The whole image or a clear 400, never a truncated one. `fetch_images_allow` lists
networks that may be reached although they are not public (an image server on the LAN)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from unified.errors import GatewayError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_REDIRECTS = 5
_TYPES_OK = ("image/", "application/octet-stream", "binary/octet-stream")


def public_address(ip: IPAddress) -> bool:
    """True for addresses on the public internet; embedded IPv4 (mapped, NAT64, 6to4) is judged as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return public_address(embedded)
    return ip.is_global and not ip.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressPolicy:
    """Which resolved addresses an image fetch may connect to."""

    def __init__(self, allow: Sequence[str] = ()) -> None:
        self.allow = [ipaddress.ip_network(n, strict=False) for n in allow]

    def __call__(self, ip: IPAddress) -> bool:
        return public_address(ip) or any(ip in net for net in self.allow)


class Refused(OSError):
    """A host resolved to an address the policy refuses (carried out of aiohttp as the os_error)."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}, which is not a public address")
        self.host = host
        self.address = address


class CheckingResolver(AbstractResolver):
    """Resolves as usual, then refuses the host if any of its addresses is not allowed (a name with one
    public and one private address could be pointed at either)."""

    def __init__(self, allowed: Callable[[IPAddress], bool]) -> None:
        self.inner = DefaultResolver()
        self.allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for r in results:
            ip = ipaddress.ip_address(r["host"].split("%", 1)[0])
            if not self.allowed(ip):
                raise Refused(host, str(ip))
        return results

    async def close(self) -> None:
        await self.inner.close()


def _shown(url: str) -> str:
    return url if len(url) <= 200 else url[:200] + "…"


class ImageFetcher:
    """One per provider and worker; its own connection pool, so the checking resolver sees every connection."""

    def __init__(self, max_bytes: int, timeout: float, allowed: Callable[[IPAddress], bool]) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.allowed = allowed
        self.session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            connector = aiohttp.TCPConnector(resolver=CheckingResolver(self.allowed), limit=64, ttl_dns_cache=10)
            self.session = aiohttp.ClientSession(  # no cookie jar: fetched hosts must not track clients
                connector=connector, trust_env=False, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    def _check_url(self, url: URL, shown: str) -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise GatewayError("invalid_request", f"image URL {shown}: only http and https URLs are fetched")
        host = url.host.strip("[]").split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            last = host.rstrip(".").rsplit(".", 1)[-1].lower()
            if last.isdigit() or last.startswith("0x"):  # 2130706433, 0x7f.1, 017700000001: IPs in disguise
                raise GatewayError(
                    "invalid_request", f"image URL {shown}: numeric host forms are not fetched"
                ) from None
            return  # a name: the resolver checks what it resolves to
        if not self.allowed(ip):
            raise GatewayError("invalid_request", f"image URL {shown}: {ip} is not a public address; not fetched")

    async def fetch(self, url_text: str) -> bytes:
        shown = _shown(url_text)
        try:
            async with asyncio.timeout(self.timeout):
                return await self._fetch(url_text, shown)
        except TimeoutError:
            raise GatewayError("invalid_request", f"image URL {shown}: not fetched within {self.timeout:g}s") from None

    async def _fetch(self, url_text: str, shown: str) -> bytes:
        try:
            url = URL(url_text)
        except (ValueError, TypeError):
            raise GatewayError("invalid_request", f"image URL {shown}: not a valid URL") from None
        session = self._session()
        for _ in range(MAX_REDIRECTS + 1):
            self._check_url(url, shown)
            try:
                async with session.get(url, allow_redirects=False, headers={"Accept": "image/*"}) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise GatewayError("invalid_request", f"image URL {shown}: redirect without a Location")
                        url = url.join(URL(location))
                        continue
                    if resp.status >= 300:
                        raise GatewayError("invalid_request", f"could not fetch image {shown}: HTTP {resp.status}")
                    ctype = resp.headers.get("Content-Type", "").lower()
                    if ctype and not ctype.startswith(_TYPES_OK):
                        raise GatewayError(
                            "invalid_request", f"image URL {shown} is not an image (Content-Type {ctype[:60]})"
                        )
                    return await self._body(resp, shown)
            except aiohttp.ClientConnectorError as err:
                if isinstance(err.os_error, Refused):
                    raise GatewayError("invalid_request", f"image URL {shown}: {err.os_error}; not fetched") from None
                raise GatewayError("invalid_request", f"could not fetch image {shown}: connection failed") from None
            except (aiohttp.ClientError, ValueError) as err:
                raise GatewayError("invalid_request", f"could not fetch image {shown}: {type(err).__name__}") from None
        raise GatewayError("invalid_request", f"image URL {shown}: more than {MAX_REDIRECTS} redirects")

    async def _body(self, resp: aiohttp.ClientResponse, shown: str) -> bytes:
        limit = self.max_bytes
        too_big = GatewayError("invalid_request", f"image {shown} is larger than {limit} bytes (max_image_bytes)")
        if resp.content_length is not None and resp.content_length > limit:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    async def fetch_b64(self, url: str) -> str:
        return base64.b64encode(await self.fetch(url)).decode()


def fetcher_for(config: Any) -> ImageFetcher | None:
    """The provider's fetcher when `fetch_images` is on, else None."""
    if not getattr(config, "fetch_images", False):
        return None
    policy = AddressPolicy(getattr(config, "fetch_images_allow", ()) or ())
    return ImageFetcher(config.max_image_bytes, config.image_timeout, policy)


def not_fetched(provider: str, url: str) -> GatewayError:
    return GatewayError(
        "invalid_request",
        f"image URL {_shown(url)}: provider {provider!r} takes only inline images and does not fetch URLs "
        f"(set providers.{provider}.fetch_images: true to let the gateway download them); "
        "send the image as base64 (a data: URL) instead",
    )
