"""HTTP/1.x responses, sans-I/O: the MTA-STS policy fetch reads a whole response, then parses it here."""

from __future__ import annotations

from dataclasses import dataclass

from mailprobe.decimal_text import MAX_DIGITS, decimal_value, is_decimal

_HEX = frozenset(b"0123456789abcdefABCDEF")
_MAX_HEX_DIGITS = 15  # a chunk size: under 2**60 bytes


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class HttpParseError(ValueError):
    pass


def parse_http_response(raw: bytes) -> HttpResponse:
    """A whole HTTP/1.x response read until close: status, headers, body (Content-Length or chunked).

    Anything that is not such a response raises HttpParseError, never another error: a status code is three
    digits, a Content-Length at most MAX_DIGITS digits, a chunk size at most 15 hex digits.
    """
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise HttpParseError("no end of headers")
    lines = head.decode("iso-8859-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if (
        len(status_line) < 2
        or not status_line[0].startswith("HTTP/1.")
        or not is_decimal(status_line[1], 3)
        or len(status_line[1]) != 3
    ):
        raise HttpParseError(f"not an HTTP status line: {lines[0][:60]!r}")
    headers = []
    for line in lines[1:]:
        key, colon, value = line.partition(":")
        if not colon:
            raise HttpParseError(f"bad header line {line[:60]!r}")
        headers.append((key.strip(), value.strip()))
    response = HttpResponse(int(status_line[1]), status_line[2] if len(status_line) > 2 else "", tuple(headers), b"")
    encoding = (response.header("Transfer-Encoding") or "").lower()
    if "chunked" in encoding:
        body = _dechunk(rest)
    else:
        length_text = response.header("Content-Length")
        if length_text is not None:
            length = decimal_value(length_text, MAX_DIGITS)
            if length is None:
                raise HttpParseError(f"bad Content-Length {length_text[:40]!r}")
            if len(rest) < length:
                raise HttpParseError(f"body cut short: {len(rest)} of {length} bytes")
            body = rest[:length]
        else:
            body = rest
    return HttpResponse(response.status, response.reason, response.headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise HttpParseError("chunked body cut short")
        digits = size_line.split(b";")[0].strip()
        if not digits or len(digits) > _MAX_HEX_DIGITS or not _HEX.issuperset(digits):
            raise HttpParseError(f"bad chunk size {size_line[:20]!r}")
        size = int(digits, 16)
        if size == 0:
            return bytes(out)
        if len(data) < size + 2:
            raise HttpParseError("chunked body cut short")
        out += data[:size]
        data = data[size + 2 :]
