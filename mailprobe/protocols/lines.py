"""Line splitting shared by the text protocols: CRLF (or bare LF) lines, with a cap on line length."""

from __future__ import annotations

from mailprobe.errors import LimitExceeded


def next_line(buf: bytes, start: int, max_line: int) -> tuple[bytes, int] | None:
    """The line starting at `start` without its terminator, and the index after it; None if incomplete."""
    end = buf.find(b"\n", start, start + max_line + 1)
    if end < 0:
        if len(buf) - start > max_line:
            raise LimitExceeded(f"line longer than {max_line} bytes")
        return None
    line = buf[start:end]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line, end + 1


def decode(line: bytes) -> str:
    """Text for display and matching; lossless (undecodable bytes become \\xNN escapes)."""
    return line.decode("utf-8", errors="backslashreplace")
