"""Sessions share one client TLS context per version range (net/transport.py client_context): made once, and
still a full handshake each time (no session resumed), so every session records the chain as served."""

from __future__ import annotations

import asyncio
import ssl

import trustme

from mailprobe.net.transport import client_context


def test_one_context_per_version_range() -> None:
    assert client_context() is client_context()
    legacy = client_context(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1)
    assert legacy is not client_context() and legacy.maximum_version is ssl.TLSVersion.TLSv1
    assert client_context().verify_mode is ssl.CERT_NONE and not client_context().check_hostname


async def test_every_session_on_the_shared_context_is_a_full_handshake() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mx.example.test").configure_cert(server_context)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hello\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    seen = []
    async with server:
        for _ in range(3):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(), server_hostname="mx.example.test"
            )
            assert await reader.readline() == b"220 hello\r\n"
            ssl_object = writer.get_extra_info("ssl_object")
            seen.append((ssl_object.session_reused, ssl_object.getpeercert(binary_form=True)))
            writer.close()
            await writer.wait_closed()
    assert [reused for reused, _ in seen] == [False, False, False]
    assert all(leaf for _, leaf in seen) and len({leaf for _, leaf in seen}) == 1
