"""HTTP/1.x responses, sans-I/O: the MTA-STS policy fetch reads a whole response, then parses it here."""

from __future__ import annotations

from dataclasses import dataclass

from mailprobe.decimal_text import is_decimal


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
    """A whole HTTP/1.x response read until close: status, headers, body (Content-Length or chunked)."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise HttpParseError("no end of headers")
    lines = head.decode("iso-8859-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not is_decimal(status_line[1]):
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
        length = response.header("Content-Length")
        if length is not None:
            if not is_decimal(length):
                raise HttpParseError(f"bad Content-Length {length!r}")
            if len(rest) < int(length):
                raise HttpParseError(f"body cut short: {len(rest)} of {length} bytes")
            body = rest[: int(length)]
        else:
            body = rest
    return HttpResponse(response.status, response.reason, response.headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise HttpParseError("chunked body cut short")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise HttpParseError(f"bad chunk size {size_line[:20]!r}") from None
        if size == 0:
            return bytes(out)
        if len(data) < size + 2:
            raise HttpParseError("chunked body cut short")
        out += data[:size]
        data = data[size + 2 :]
