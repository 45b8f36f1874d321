"""Image helpers every dialect needs: data URIs and sniffing a MIME type from base64 magic bytes."""

from __future__ import annotations

import re

from unified.errors import GatewayError
from unified.types import ImagePart

_MAGIC = (("iVBOR", "image/png"), ("/9j/", "image/jpeg"), ("R0lG", "image/gif"), ("UklG", "image/webp"))
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
SUPPORTED_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def sniff_image_type(b64: str) -> str:
    for prefix, mime in _MAGIC:
        if b64.startswith(prefix):
            return mime
    return "image/png"


def image_from_url(url: str, param: str) -> ImagePart:
    """An OpenAI-style image URL: a data URI becomes inline base64, anything else stays a URL."""
    if url.startswith("data:"):
        header, sep, data = url.partition(",")
        if not sep or ";base64" not in header:
            raise GatewayError("invalid_request", f"{param}: image data URIs must be base64 encoded", param=param)
        mime = header[5:].split(";", 1)[0] or sniff_image_type(data)
        return ImagePart(data=data, media_type=mime)
    if url.startswith(("http://", "https://")):
        return ImagePart(url=url)
    if _SCHEME.match(url):  # file://, ftp://, gopher:// ...: never fetched, and not base64 either
        raise GatewayError("invalid_request", f"{param}: image URLs must be http(s) or data: URLs", param=param)
    # Raw base64 without a data: prefix (GLM-style clients).
    return ImagePart(data=url, media_type=sniff_image_type(url))
