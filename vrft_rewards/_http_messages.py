"""HTTP/1.0 messages of :mod:`vrft_rewards._httpd`: the request head parsed strictly, the JSON
error every endpoint answers with, and responses encoded (``Connection: close``).

``Content-Length`` is read strictly: ``1*DIGIT`` after removing the optional whitespace (SP, HTAB)
around the field value that RFC 9110 (5.5) lets a recipient strip; several headers must agree.
So ``+18``, ``1_8``, ``18.0``, ``0x12`` or a non-breaking space are ``400``; `` 18 `` is ``18``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Optional

__all__ = ["FramingError", "Request", "Response", "content_length", "encode", "error_response", "parse_head"]

#: (status, extra headers, body bytes), as :meth:`HTTPServer.handle` returns it.
Response = tuple[int, dict, bytes]


@dataclass
class Request:
    """A complete request: method, path (query string removed), lower-cased header names."""

    method: str
    path: str
    headers: dict
    body: bytearray


def error_response(status: int, message: str, headers: Optional[dict] = None) -> Response:
    """The JSON error every endpoint answers with: ``{"error": message, "status": status}``."""
    body = json.dumps({"error": message, "status": status}).encode()
    return status, dict(headers or {}), body


def encode(response: Response) -> bytes:
    status, headers, body = response
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.0 {status} {reason}", "Server: vrft-rewards", "Content-Type: application/json"]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + bytes(body)


class FramingError(Exception):
    """A request the reader answers itself (it cannot be framed or is refused)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = error_response(status, message)


def content_length(values: list) -> int:
    """The body length of a request's Content-Length values (already stripped of OWS)."""
    if not values:
        return 0
    for v in values:
        if not (0 < len(v) <= 18 and v.isascii() and v.isdigit()):
            raise FramingError(400, f"Content-Length must be a decimal number of bytes (1*DIGIT), got {v!r}")
    if len(set(int(v) for v in values)) != 1:
        raise FramingError(400, f"conflicting Content-Length headers: {', '.join(values)}")
    return int(values[0])


def parse_head(head: bytes) -> tuple[str, str, dict, list]:
    """(method, path, headers, Content-Length values) of a header block (without its CRLFCRLF)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/1."):
        raise FramingError(400, f"malformed request line {lines[0][:80]!r}")
    headers: dict = {}
    lengths: list = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[:1] in (" ", "\t"):
            raise FramingError(400, f"malformed header line {line[:80]!r}")
        key, value = name.lower(), value.strip(" \t")  # OWS around the value (RFC 9110, 5.5)
        if key == "content-length":
            lengths.append(value)
        headers[key] = value
    return parts[0], parts[1].split("?", 1)[0], headers, lengths
