"""Fetch an MTA-STS policy over HTTPS: the name resolved with the chosen resolver, guarded, capped, timed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
from dataclasses import dataclass

from mailprobe.config import Config
from mailprobe.dns.client import Answer, DnsClient
from mailprobe.dns.names import nonpublic_reason
from mailprobe.errors import UnsafeTargetError
from mailprobe.model import RecordStatus
from mailprobe.net import guard
from mailprobe.protocols.http import HttpParseError, parse_http_response
from mailprobe.records.mtasts import POLICY_BYTES

WELL_KNOWN = "/.well-known/mta-sts.txt"
_HEADER_ALLOWANCE = 16 * 1024


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: RecordStatus  # OK or what stopped the fetch (DNS_ERROR, SKIPPED_NONPUBLIC, BLOCKED, TIMEOUT, ...)
    body: str = ""
    detail: str = ""
    address: str = ""


def policy_url(domain: str, port: int = 443) -> str:
    where = f"mta-sts.{domain}" + (f":{port}" if port != 443 else "")
    return f"https://{where}{WELL_KNOWN}"


def tls_context(cfg: Config) -> ssl.SSLContext:
    """The system store plus the user's --ca-file (the lab and the demo use their own CA).

    Loading the system store costs ~17 ms of CPU: made once per CA file (as it is on disk) and reused.
    """
    stamp = None
    if cfg.ca_file:
        with contextlib.suppress(OSError):
            info = os.stat(cfg.ca_file)
            stamp = (info.st_mtime_ns, info.st_size)
    return _context(cfg.ca_file, stamp)


async def warm_tls_context(cfg: Config) -> None:
    """Build the context in a thread while the DNS answers travel, not on the fetch's critical path.
    A CA file that cannot be loaded is reported by the fetch itself."""
    with contextlib.suppress(OSError, ssl.SSLError):
        await asyncio.to_thread(tls_context, cfg)


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, _stamp: tuple[int, int] | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


async def lookup_policy_host(domain: str, client: DnsClient, cfg: Config) -> list[Answer]:
    """A/AAAA of mta-sts.DOMAIN (DNS only: resolve_domain asks beside the TXT record to save a round trip)."""
    families = [t for t, on in (("A", cfg.ipv4), ("AAAA", cfg.ipv6)) if on]
    return list(await asyncio.gather(*(client.query(f"mta-sts.{domain}", t) for t in families)))


async def fetch_policy(
    domain: str, client: DnsClient, cfg: Config, port: int = 443, answers: list[Answer] | None = None
) -> Fetched:
    """GET the policy over HTTPS from the first address that answers; `answers`: lookup_policy_host's result."""
    host = f"mta-sts.{domain}"
    url = policy_url(domain, port)
    if answers is None:
        answers = await lookup_policy_host(domain, client, cfg)
    addresses = [rdata.to_text() for answer in answers for rdata in answer.records]
    if not addresses:
        failures = [a for a in answers if not a.outcome.is_negative]
        reason = failures[0].reason if failures else f"{host} has no address"
        return Fetched(url, RecordStatus.DNS_ERROR, detail=reason)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + cfg.limits.read_timeout
    last = Fetched(url, RecordStatus.CONNECT_ERROR, detail="no address tried")
    for address in addresses:
        why_private = nonpublic_reason(address)
        if why_private and not cfg.allow_nonpublic:
            last = Fetched(url, RecordStatus.SKIPPED_NONPUBLIC, detail=f"{address} is {why_private}", address=address)
            continue
        try:
            guard.check(address)
        except UnsafeTargetError as exc:
            last = Fetched(url, RecordStatus.BLOCKED, detail=str(exc), address=address)
            continue
        last = await _get(url, host, address, port, cfg, deadline)
        if last.status not in (RecordStatus.CONNECT_ERROR, RecordStatus.TIMEOUT):
            return last  # an answer, good or bad, from one address is the server's answer
    return last


async def _get(url: str, host: str, address: str, port: int, cfg: Config, deadline: float) -> Fetched:
    loop = asyncio.get_running_loop()
    try:
        context = tls_context(cfg)
    except (OSError, ssl.SSLError) as exc:
        return Fetched(url, RecordStatus.TLS_ERROR, detail=f"cannot load CA file {cfg.ca_file}: {exc}", address=address)
    writer: asyncio.StreamWriter | None = None
    stage = "connect"
    try:
        connect = asyncio.open_connection(address, port, ssl=context, server_hostname=host)
        reader, stream = await asyncio.wait_for(connect, min(cfg.limits.connect_timeout, deadline - loop.time()))
        writer = stream
        stage = "read"
        request = (
            f"GET {WELL_KNOWN} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailprobe\r\n"
            "Accept: text/plain\r\nConnection: close\r\n\r\n"
        )
        stream.write(request.encode("ascii"))
        await stream.drain()
        raw = await asyncio.wait_for(_read_capped(reader, POLICY_BYTES + _HEADER_ALLOWANCE), deadline - loop.time())
    except asyncio.TimeoutError:
        return Fetched(
            url,
            RecordStatus.TIMEOUT,
            detail=f"no {'connection' if stage == 'connect' else 'answer'} in time",
            address=address,
        )
    except ssl.SSLCertVerificationError as exc:
        return Fetched(
            url,
            RecordStatus.TLS_ERROR,
            detail=f"certificate not valid for {host}: {exc.verify_message}",
            address=address,
        )
    except ssl.SSLError as exc:
        return Fetched(url, RecordStatus.TLS_ERROR, detail=f"TLS failed: {exc.reason or exc}", address=address)
    except _TooBig:
        return Fetched(url, RecordStatus.TOO_BIG, detail=f"more than {POLICY_BYTES} bytes", address=address)
    except OSError as exc:
        return Fetched(
            url, RecordStatus.CONNECT_ERROR, detail=f"{address}:{port}: {exc.strerror or exc}", address=address
        )
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
    try:
        response = parse_http_response(raw)
    except HttpParseError as exc:
        return Fetched(url, RecordStatus.NOT_HTTP, detail=str(exc), address=address)
    except Exception as exc:  # the boundary for one record: a parser crash is this fetch's error, not the domain's
        detail = f"internal error parsing the response: {exc!r}"[:300]
        return Fetched(url, RecordStatus.NOT_HTTP, detail=detail, address=address)
    if response.status != 200:  # RFC 8461 3.3: no redirects, only 200 counts
        return Fetched(
            url, RecordStatus.HTTP_ERROR, detail=f"HTTP {response.status} {response.reason}".strip(), address=address
        )
    if len(response.body) > POLICY_BYTES:
        return Fetched(
            url,
            RecordStatus.TOO_BIG,
            detail=f"{len(response.body)} bytes, more than {POLICY_BYTES} bytes",
            address=address,
        )
    content_type = (response.header("Content-Type") or "").split(";")[0].strip().lower()
    detail = "" if content_type == "text/plain" else f"Content-Type is {content_type or 'missing'}, not text/plain"
    return Fetched(url, RecordStatus.OK, response.body.decode("utf-8", "replace"), detail, address)


class _TooBig(Exception):
    pass


async def _read_capped(reader: asyncio.StreamReader, cap: int) -> bytes:
    data = bytearray()
    while True:
        chunk = await reader.read(16 * 1024)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > cap:
            raise _TooBig
