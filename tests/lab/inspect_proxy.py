"""A transparent SMTP proxy for the lab's router that inspects port 25 as a Cisco ASA/PIX does (inspect esmtp).

The router policies inspect-25 and strip-starttls-25 (labnet.py) redirect client-to-server TCP port 25 to
this process in the router namespace. It reads each connection's original destination (SO_ORIGINAL_DST,
IP6T_SO_ORIGINAL_DST), connects on to it and relays the dialogue line by line, rewriting it:

  mask   (inspect-25, the ASA) the greeting's text becomes asterisks of the same length with the code kept
         ("220 ****************"), as the ASA's banner obfuscation does; a reply line "250-STARTTLS" becomes
         "250-XXXXXXXA"; a STARTTLS command is answered here with "500 5.5.1 Command unrecognized" and never
         reaches the server.
  strip  (strip-starttls-25) the greeting passes untouched; the STARTTLS line is removed from the reply;
         STARTTLS is refused the same way.

Everything else passes through: other reply lines, every other command, and the message after a 354 reply
to DATA up to its final dot. After BDAT the rest of what the client sends is relayed unread (the proxy does
not follow chunk lengths). The proxy accepts the client's connection itself, before it connects on, so a
client's connect completes at the router's distance, not the server's (with the lab's delay between router
and servers, port 25 answers the SYN sooner than 587 or 465 of the same address). Servers see the router's
address as the client's. Standard library only:

    python3 inspect_proxy.py --mask-port 10025 --strip-port 10026 --log FILE

listens on both ports on IPv4 and IPv6 (any address of the router) and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import TextIO

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST (SOL_IPV6) has the same number
# The proxy only ever connects on to the lab's documentation ranges, whatever a redirect says.
UPSTREAM_NETWORKS = [ipaddress.ip_network(n) for n in ("203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32")]
CONNECT_TIMEOUT = 10.0
REFUSAL = b"500 5.5.1 Command unrecognized\r\n"
MASKED_STARTTLS = b"XXXXXXXA"
Reply = list[bytes]  # the lines of one SMTP reply, each with its line ending


def original_destination(sock: socket.socket) -> tuple[str, int]:
    """Where the client meant to connect before the router's redirect."""
    if sock.family == socket.AF_INET:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)  # struct sockaddr_in
        port, packed = struct.unpack_from("!2xH4s", raw)
        return socket.inet_ntop(socket.AF_INET, packed), port
    raw = sock.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)  # struct sockaddr_in6
    port, packed = struct.unpack_from("!2xH4x16s", raw)
    return socket.inet_ntop(socket.AF_INET6, packed), port


def _split(line: bytes) -> tuple[bytes, bytes, bytes]:
    """(code and separator, text, line ending) of a reply line."""
    body = line.rstrip(b"\r\n")
    return body[:4], body[4:], line[len(body):]


def mask_greeting(reply: Reply) -> Reply:
    """Every line's text replaced by as many asterisks, its code and separator kept."""
    masked = []
    for line in reply:
        head, text, end = _split(line)
        masked.append(head + b"*" * len(text) + end)
    return masked


def _is_starttls(line: bytes) -> bool:
    head, text, _ = _split(line)
    return head[:3] == b"250" and text.strip().upper() == b"STARTTLS"


def mask_starttls(reply: Reply) -> Reply:
    return [_split(line)[0] + MASKED_STARTTLS + _split(line)[2] if _is_starttls(line) else line for line in reply]


def strip_starttls(reply: Reply) -> Reply:
    """The reply without its STARTTLS line; the separators are redone so the last line still ends it."""
    kept = [line for line in reply if not _is_starttls(line)]
    if len(kept) == len(reply) or not kept:
        return reply
    return [line[:3] + (b" " if i == len(kept) - 1 else b"-") + line[4:] for i, line in enumerate(kept)]


REWRITES: dict[str, tuple[Callable[[Reply], Reply], Callable[[Reply], Reply]]] = {
    # mode: (greeting, every later reply)
    "mask": (mask_greeting, mask_starttls),
    "strip": (lambda reply: reply, strip_starttls),
}


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    """One whole SMTP reply (continuation lines "NNN-" up to "NNN "); [] at end of stream."""
    lines: Reply = []
    while True:
        line = await reader.readline()
        if not line:
            return []
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return lines


class Session:
    """One client connection and its upstream one. The server owes a reply for each forwarded command;
    a refusal made here waits until it owes none, so replies reach the client in the order of the commands."""

    def __init__(self, mode: str, client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 server: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.rewrite_greeting, self.rewrite_reply = REWRITES[mode]
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        self.owed = 1  # the greeting
        self.last_code = b""
        self.server_done = False
        self.settled = asyncio.Condition()

    async def _wait_settled(self) -> None:
        async with self.settled:
            await self.settled.wait_for(lambda: self.owed == 0 or self.server_done)

    async def server_to_client(self) -> None:
        rewrite = self.rewrite_greeting
        try:
            while reply := await read_reply(self.server_reader):
                self.client_writer.write(b"".join(rewrite(reply)))
                await self.client_writer.drain()
                rewrite = self.rewrite_reply
                async with self.settled:
                    self.owed, self.last_code = max(0, self.owed - 1), reply[-1][:3]
                    self.settled.notify_all()
        finally:
            async with self.settled:
                self.server_done = True
                self.settled.notify_all()

    async def client_to_server(self) -> None:
        while line := await self.client_reader.readline():
            command = line.strip().upper()
            if command == b"STARTTLS":
                await self._wait_settled()
                self.client_writer.write(REFUSAL)
                await self.client_writer.drain()
                continue
            self.owed += 1
            self.server_writer.write(line)
            await self.server_writer.drain()
            if command.startswith(b"BDAT"):
                while chunk := await self.client_reader.read(65536):
                    self.server_writer.write(chunk)
                    await self.server_writer.drain()
                return
            if command == b"DATA":
                await self._wait_settled()
                if self.last_code == b"354":
                    await self._relay_message()

    async def _relay_message(self) -> None:
        """The message text after 354, unread, up to and including the line with the lone dot."""
        while line := await self.client_reader.readline():
            self.server_writer.write(line)
            if line.rstrip(b"\r\n") == b".":
                self.owed += 1
                break
        await self.server_writer.drain()

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(self.server_to_client()), asyncio.ensure_future(self.client_to_server())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class Proxy:
    def __init__(self, log: TextIO) -> None:
        self.log = log

    def note(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self.log, flush=True)

    async def handle(self, mode: str, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        sock = client_writer.get_extra_info("socket")
        peer = client_writer.get_extra_info("peername")
        server_writer = None
        try:
            host, port = original_destination(sock)
            if not any(ipaddress.ip_address(host) in net for net in UPSTREAM_NETWORKS):
                self.note(f"{mode} {peer[0]} -> {host}:{port}: outside the lab, refused")
                return
            try:
                server = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as exc:
                self.note(f"{mode} {peer[0]} -> {host}:{port}: upstream connect failed: {exc}")
                return
            server_writer = server[1]
            self.note(f"{mode} {peer[0]} -> {host}:{port}")
            await Session(mode, (client_reader, client_writer), server).run()
        except (OSError, ConnectionError) as exc:
            self.note(f"{mode} {peer[0]}: {exc}")
        finally:
            for writer in (server_writer, client_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError, ConnectionError):
                        await writer.wait_closed()


async def serve(ports: dict[str, int], log: TextIO) -> None:
    proxy = Proxy(log)
    servers = []
    for mode, port in ports.items():
        def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str = mode) -> object:
            return proxy.handle(mode, reader, writer)

        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(256)
            servers.append(await asyncio.start_server(handler, sock=sock))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mask-port", type=int, required=True, help="ASA-style: mask greeting and STARTTLS")
    parser.add_argument("--strip-port", type=int, required=True, help="strip STARTTLS only")
    parser.add_argument("--log", required=True, help="append one line per session here")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the lab's owner, who ends us by PID
    with open(args.log, "a") as log:
        asyncio.run(serve({"mask": args.mask_port, "strip": args.strip_port}, log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
