"""Small network checks the lab runs inside its client namespace, independent of mailprobe's own code.

    python netcheck.py '[{"op": "connect", "host": "203.0.113.25", "port": 25}, ...]'

runs every job concurrently (one thread each) and prints a JSON list with one result per job, in order.
Every job first passes its address through mailprobe's guard (MAILPROBE_ALLOW_ONLY, defaulting to loopback
and the documentation ranges), so nothing is ever sent elsewhere. Jobs:

connect  host port [timeout=3] [read=false]
         -> outcome: open | refused | timeout | unreachable | denied | error, errno, ms, banner (if read)
tls      host port sni ca [protocol=smtp|imap|pop3] [starttls=false] [timeout=5]
         -> outcome: ok | error, banner, capabilities_plain, capabilities_tls (SMTP EHLO lines),
            version, cipher, peer_names, error
smtp     host port [starttls=true] [timeout=5]    a plain-text dialogue, no TLS: greeting, EHLO, STARTTLS
         -> outcome, greeting, ehlo, starttls_reply (each a list of reply lines; the last [] if not sent)
dialogue host port steps [smtp=true] [timeout=5]   plain text, no TLS: the greeting, then for each step
         [text, n]: send text as is (several commands at once pipeline them), read n replies (SMTP replies
         with continuation lines when smtp, else single lines) -> outcome, greeting, replies (per step)
https    host sni ca path [port=443] [timeout=5]
         -> outcome, status, content_type, body
dns      server name type [tcp=false] [timeout=3]   -> outcome, rcode, answers (text), aa
rtt      host port [count=5] [timeout=3]            -> outcome, ms (TCP connect or refusal time per try)
"""

from __future__ import annotations

import errno
import json
import os
import socket
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ.setdefault("MAILPROBE_ALLOW_ONLY", "127.0.0.0/8,::1/128,198.51.100.0/24,203.0.113.0/24,2001:db8::/32")

# Imported after the default above, which the guard reads.
from mailprobe.errors import UnsafeTargetError
from mailprobe.net import guard

Job = dict[str, Any]
_OUTCOMES = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.EACCES: "denied",
    errno.EPERM: "denied",
    errno.ETIMEDOUT: "timeout",
}


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    guard.check(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ssl.SSLError):  # an OSError whose errno is not a socket's
        return {"outcome": "error", "errno": "", "error": f"{type(exc).__name__}: {exc}"}
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return {"outcome": "timeout", "errno": "ETIMEDOUT", "error": str(exc)}
    if isinstance(exc, OSError) and exc.errno in _OUTCOMES:
        return {"outcome": _OUTCOMES[exc.errno], "errno": errno.errorcode[exc.errno], "error": str(exc)}
    return {"outcome": "error", "errno": errno.errorcode.get(getattr(exc, "errno", None) or 0, ""),
            "error": f"{type(exc).__name__}: {exc}"}


class _Lines:
    """Line reader over a (TLS or plain) socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def line(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed after {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def smtp_reply(self) -> list[str]:
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines


def job_connect(job: Job) -> dict[str, Any]:
    started = time.monotonic()
    try:
        sock = _connect(job["host"], int(job["port"]), float(job.get("timeout", 3)))
    except OSError as exc:
        return {**_failure(exc), "ms": (time.monotonic() - started) * 1000}
    result: dict[str, Any] = {"outcome": "open", "errno": "", "ms": (time.monotonic() - started) * 1000}
    with sock:
        if job.get("read"):
            try:
                result["banner"] = _Lines(sock).line()
            except OSError as exc:
                result["banner"] = ""
                result["read_error"] = str(exc)
    return result


def _context(ca: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _peer_names(tls: ssl.SSLSocket) -> list[str]:
    cert = tls.getpeercert() or {}
    return [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]


def job_tls(job: Job) -> dict[str, Any]:
    protocol, starttls = job.get("protocol", "smtp"), bool(job.get("starttls"))
    result: dict[str, Any] = {"outcome": "error"}
    try:
        sock = _connect(job["host"], int(job["port"]), float(job.get("timeout", 5)))
    except OSError as exc:
        return {**result, **_failure(exc)}
    try:
        with sock:
            lines = _Lines(sock)
            if starttls:
                result["banner"] = lines.line() if protocol != "smtp" else "\n".join(lines.smtp_reply())
                if protocol == "smtp":
                    sock.sendall(b"EHLO client.lab.test\r\n")
                    result["capabilities_plain"] = lines.smtp_reply()
                    sock.sendall(b"STARTTLS\r\n")
                    result["starttls_reply"] = "\n".join(lines.smtp_reply())
                elif protocol == "imap":
                    sock.sendall(b"a1 STARTTLS\r\n")
                    result["starttls_reply"] = lines.line()
                else:
                    sock.sendall(b"STLS\r\n")
                    result["starttls_reply"] = lines.line()
            tls = _context(job["ca"]).wrap_socket(sock, server_hostname=job["sni"])
            with tls:
                result.update(version=tls.version(), cipher=(tls.cipher() or ("",))[0],
                              peer_names=_peer_names(tls))
                lines = _Lines(tls)
                if not starttls:
                    result["banner"] = lines.line() if protocol != "smtp" else "\n".join(lines.smtp_reply())
                if protocol == "smtp":
                    tls.sendall(b"EHLO client.lab.test\r\n")
                    result["capabilities_tls"] = lines.smtp_reply()
                    tls.sendall(b"QUIT\r\n")
                result["outcome"] = "ok"
    except (OSError, ssl.SSLError, ConnectionError) as exc:
        result.update(_failure(exc))
        result["outcome"] = "error"
    return result


def job_smtp(job: Job) -> dict[str, Any]:
    """The replies exactly as they arrive, so whatever sits on the path (a proxy that rewrites them) shows."""
    result: dict[str, Any] = {"outcome": "error", "greeting": [], "ehlo": [], "starttls_reply": []}
    try:
        with _connect(job["host"], int(job["port"]), float(job.get("timeout", 5))) as sock:
            lines = _Lines(sock)
            result["greeting"] = lines.smtp_reply()
            sock.sendall(b"EHLO client.lab.test\r\n")
            result["ehlo"] = lines.smtp_reply()
            if job.get("starttls", True):
                sock.sendall(b"STARTTLS\r\n")
                result["starttls_reply"] = lines.smtp_reply()
            if not result["starttls_reply"] or not result["starttls_reply"][-1].startswith("220"):
                sock.sendall(b"QUIT\r\n")  # after a 220 the server waits for a TLS ClientHello instead
            result["outcome"] = "ok"
    except (OSError, ConnectionError) as exc:
        result.update(_failure(exc))
    return result


def job_dialogue(job: Job) -> dict[str, Any]:
    result: dict[str, Any] = {"outcome": "error", "greeting": [], "replies": []}
    try:
        with _connect(job["host"], int(job["port"]), float(job.get("timeout", 5))) as sock:
            lines = _Lines(sock)
            read = lines.smtp_reply if job.get("smtp", True) else (lambda: [lines.line()])
            result["greeting"] = read()
            for text, count in job["steps"]:
                sock.sendall(text.encode())
                result["replies"].append([])
                for _ in range(int(count)):  # kept reply by reply, so an early close shows what came
                    result["replies"][-1].extend(read())
            result["outcome"] = "ok"
    except (OSError, ConnectionError) as exc:
        result.update(_failure(exc))
    return result


def job_https(job: Job) -> dict[str, Any]:
    import http.client

    host, port, timeout = job["host"], int(job.get("port", 443)), float(job.get("timeout", 5))
    # Connect to the address, but present (SNI, Host) and verify the site name.
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.sock = _context(job["ca"]).wrap_socket(_connect(host, port, timeout),
                                                          server_hostname=job["sni"])
        connection.putrequest("GET", job["path"], skip_host=True)
        connection.putheader("Host", job["sni"])
        connection.endheaders()
        response = connection.getresponse()
        body = response.read(65536).decode(errors="replace")
        return {"outcome": "ok", "status": response.status,
                "content_type": response.getheader("Content-Type", ""), "body": body}
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        return _failure(exc)
    finally:
        connection.close()


def job_dns(job: Job) -> dict[str, Any]:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode

    guard.check(job["server"])
    query = dns.message.make_query(job["name"], job["type"])
    timeout = float(job.get("timeout", 3))
    try:
        if job.get("tcp"):
            response = dns.query.tcp(query, job["server"], timeout=timeout)
        else:
            response = dns.query.udp(query, job["server"], timeout=timeout)
    except (OSError, dns.exception.Timeout) as exc:
        return {"outcome": "timeout" if isinstance(exc, dns.exception.Timeout) else _failure(exc)["outcome"],
                "error": str(exc)}
    answers = [item.to_text() for rrset in response.answer for item in rrset]
    return {"outcome": "ok", "rcode": dns.rcode.to_text(response.rcode()), "answers": answers,
            "aa": bool(response.flags & dns.flags.AA)}


def job_rtt(job: Job) -> dict[str, Any]:
    """Time TCP connects; a refusal (RST) is a full round trip too, so it counts."""
    times = []
    for _ in range(int(job.get("count", 5))):
        started = time.monotonic()
        try:
            _connect(job["host"], int(job["port"]), float(job.get("timeout", 3))).close()
        except ConnectionRefusedError:
            pass
        except OSError as exc:
            return {**_failure(exc), "ms": times}
        times.append((time.monotonic() - started) * 1000)
    return {"outcome": "ok", "ms": times}


JOBS = {"connect": job_connect, "tls": job_tls, "smtp": job_smtp, "dialogue": job_dialogue, "https": job_https,
        "dns": job_dns, "rtt": job_rtt}


def run(job: Job) -> dict[str, Any]:
    try:
        return JOBS[job["op"]](job)
    except UnsafeTargetError as exc:
        return {"outcome": "unsafe", "error": str(exc)}


def main(argv: list[str]) -> int:
    jobs: list[Job] = json.loads(argv[1])
    with ThreadPoolExecutor(max_workers=max(1, min(64, len(jobs)))) as pool:
        results = list(pool.map(run, jobs))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
