"""Plain asyncio-stream client helpers for the demo and hostile server tests (not mailprobe's client)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import Awaitable
from typing import TypeVar

import pytest

T = TypeVar("T")
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]

needs_stream_start_tls = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="StreamWriter.start_tls needs Python 3.11"
)


def run(coro: Awaitable[T], timeout: float = 10.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def open_stream(port: int, tls: ssl.SSLContext | None = None, *, name: str) -> Stream:
    return await asyncio.open_connection("127.0.0.1", port, ssl=tls, server_hostname=name if tls else None)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


async def line(reader: asyncio.StreamReader, timeout: float = 5) -> bytes:
    return await asyncio.wait_for(reader.readline(), timeout)
