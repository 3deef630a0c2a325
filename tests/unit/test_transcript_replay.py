"""Recorded dialogues with the lab's Postfix and Dovecot, replayed through the probes with no socket.

Each file in tests/transcripts is a HandshakeResult as `mailprobe handshake --json` recorded it from the real
servers. A scripted session plays the server's side back (each client write releases the replies recorded
after it); the probe must send the same commands and reach the same facts.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from mailprobe.config import Config, Limits
from mailprobe.errors import TransportError
from mailprobe.model import Direction, ProbeStatus, Service, Target
from mailprobe.net.transport import Session, TlsSession, _Receiver
from mailprobe.probes.registry import handshake
from mailprobe.report.serialize import jsonable

RECORDINGS = sorted((Path(__file__).parents[1] / "transcripts").glob("*.json"))


def _bytes(entry: dict[str, Any]) -> bytes:
    return base64.b64decode(entry["data"]["base64"])


class _Wire:
    """Stands in for the TCP transport: a write releases the next recorded server replies."""

    def __init__(self, receiver: _Receiver, script: list[list[bytes]]) -> None:
        self.receiver, self.script, self.sent = receiver, script, []  # type: ignore[var-annotated]

    def write(self, data: bytes) -> None:
        self.sent.append(data)
        for chunk in self.script.pop(0) if self.script else []:
            self.receiver.data_received(chunk)

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


class ReplaySession(Session):
    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> TlsSession:
        self.tls = TlsSession("TLSv1.3", ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256), ())
        self.round_trips += 1  # as a real TLS 1.3 handshake counts
        return self.tls


def side_session(recorded: dict[str, Any], greeting: list[bytes]) -> list[list[bytes]] | None:
    """The POP3 probe's separate `USER` session, rebuilt from the recorded greeting and USER reply."""
    user = (recorded.get("pop3") or {}).get("user_before_tls")
    return None if user is None else [greeting, [user["line"].encode() + b"\r\n"], []]


def opener_for(recorded: dict[str, Any]) -> tuple[Any, list[bytes]]:
    """A session factory replaying `recorded`, and the list that collects what the probe sent in the main
    session (the first one opened; a later one replays the recorded side session, or is refused)."""
    groups: list[list[bytes]] = [[]]
    for entry in recorded["transcript"]:
        if entry["direction"] == Direction.CLIENT.value:
            groups.append([])
        elif entry["direction"] == Direction.SERVER.value:
            groups[-1].append(_bytes(entry))
    sent: list[bytes] = []
    opened: list[int] = []

    async def open_replay(
        address: str,
        port: int,
        limits: Limits,
        *,
        tls_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Session:
        opened.append(port)
        script = groups if len(opened) == 1 else side_session(recorded, groups[0])
        if script is None:
            raise TransportError(ProbeStatus.REFUSED.value, "not recorded")
        session = ReplaySession(limits, time.monotonic())
        session.round_trips = 1  # the TCP handshake a real session counts
        receiver = _Receiver(limits.max_reply)
        wire = _Wire(receiver, script[1:])
        if len(opened) == 1:
            wire.sent = sent
        session._receiver, session._transport = receiver, wire  # type: ignore[assignment]
        for chunk in script[0]:  # the greeting arrives unasked
            receiver.data_received(chunk)
        if tls_context is not None:
            await session.start_tls(tls_context, server_hostname)
        return session

    return open_replay, sent


def keywords(caps: list[dict[str, Any]]) -> list[str]:
    return [c["keyword"] for c in caps]


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
async def test_replay_reaches_the_recorded_facts(path: Path) -> None:
    recorded = json.loads(path.read_text())
    t = recorded["target"]
    target = Target(t["host"], t["address"], t["port"], Service(t["service"]), t["origin"])
    opener, sent = opener_for(recorded)
    result = await handshake(target, Config(limits=Limits(read_timeout=1, session_timeout=3)), opener)

    assert result.status.value == recorded["status"] == "success", result.reason
    assert [e.data for e in result.transcript if e.direction is Direction.CLIENT] == sent
    assert sent == [_bytes(e) for e in recorded["transcript"] if e["direction"] == "C"]
    assert (result.banner, result.greeting_code) == (recorded["banner"], recorded["greeting_code"])
    assert [c.keyword for c in result.capabilities_before] == keywords(recorded["capabilities_before"])
    assert [c.keyword for c in result.capabilities_after] == keywords(recorded["capabilities_after"])
    assert result.starttls.value == recorded["starttls"]
    assert list(result.auth_before_tls) == recorded["auth_before_tls"]
    assert list(result.auth_after_tls) == recorded["auth_after_tls"]
    assert result.plaintext_login_before_tls == recorded["plaintext_login_before_tls"]
    for protocol in ("smtp", "pop3", "imap"):  # the typed protocol facts, as recorded
        assert jsonable(getattr(result, protocol)) == recorded[protocol], protocol
    assert result.round_trips == recorded["round_trips"]


def test_recordings_are_present() -> None:
    assert {p.stem for p in RECORDINGS} >= {"postfix-smtp-25", "postfix-submission-587", "dovecot-imap-143"}
