"""Baselines: greetings that differ only in per-connection parts are no drift; a real change still is."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from mailprobe.checks.baseline import compare, stable_banner
from mailprobe.cli.app import app
from mailprobe.model import HandshakeResult, ProbeStatus, Report, Service, Target
from mailprobe.report.serialize import report_from_jsonable

runner = CliRunner()


def _report(banner: str, service: Service = Service.SMTP) -> Report:
    target = Target("mx.example.test", "127.0.0.1", service.default_port, service)
    code = "+OK" if service is Service.POP3 else "220"
    handshake = HandshakeResult(target, ProbeStatus.SUCCESS, "", 1.0, banner=banner, greeting_code=code)
    return Report("audit", ("mx.example.test",), "2026-01-01T00:00:00Z", 1.0, handshakes=(handshake,))


@pytest.mark.parametrize(
    ("service", "first", "second"),
    [
        (  # APOP stamps (Dovecot, qpopper, the demo lab)
            Service.POP3,
            "<3088.1796620094430133022@mx.example.test> POP3 ready",
            "<3274.1796620096921551178@mx.example.test> POP3 ready",
        ),
        (  # Exim's date
            Service.SMTP,
            "mx.example.test ESMTP Exim 4.96 Mon, 07 Dec 2026 05:01:00 +0000",
            "mx.example.test ESMTP Exim 4.96 Tue, 08 Dec 2026 17:45:12 +0000",
        ),
        (  # Sendmail's date after the version
            Service.SMTP,
            "mx.example.test ESMTP Sendmail 8.17.1.9/8.17.1.9; Mon, 7 Dec 2026 05:01:00 GMT",
            "mx.example.test ESMTP Sendmail 8.17.1.9/8.17.1.9; Mon, 7 Dec 2026 05:09:59 GMT",
        ),
        (  # Exchange's "ready at" date
            Service.SMTP,
            "mx.example.test Microsoft ESMTP MAIL Service ready at Mon, 7 Dec 2026 05:01:00 +0000",
            "mx.example.test Microsoft ESMTP MAIL Service ready at Mon, 7 Dec 2026 06:00:00 +0000",
        ),
        (  # a session id (Gmail style)
            Service.SMTP,
            "mx.example.test ESMTP a1b2c3d4e5f6si123456abc.123 - gsmtp",
            "mx.example.test ESMTP 9z8y7x6w5v4usi654321zyx.456 - gsmtp",
        ),
        (  # a Postfix queue id and an ISO time
            Service.SMTP,
            "mx.example.test ESMTP ready 2026-12-07T05:01:00Z queue 4Gh3Lk0yQkz8Xn",
            "mx.example.test ESMTP ready 2026-12-08T09:30:17Z queue 4Gj9Pq2zTtw1Mb",
        ),
        (  # an Exim message id and a ctime date
            Service.SMTP,
            "mx.example.test ESMTP id 1rXyZb-000Abc-Hj Mon Dec  7 05:01:00 2026",
            "mx.example.test ESMTP id 1rXzQq-000Def-Kx Tue Dec  8 11:11:11 2026",
        ),
    ],
)
def test_volatile_parts_are_no_drift(service: Service, first: str, second: str) -> None:
    assert stable_banner(first) == stable_banner(second)
    assert list(compare(_report(first, service), _report(second, service))) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("mx.example.test ESMTP Postfix", "mx.example.test ESMTP Exim 4.96"),  # another MTA
        ("mx.example.test ESMTP Exim 4.96", "mx.example.test ESMTP Exim 4.97"),  # a version
        ("mx1.example.test ESMTP Postfix", "mx2.example.test ESMTP Postfix"),  # another host
        ("mail2024.example.test ESMTP", "mail2025.example.test ESMTP"),  # the host name is never an id
        ("<1.2@mx1.example.test> POP3 ready", "<1.2@mx2.example.test> POP3 ready"),  # the APOP host part
    ],
)
def test_a_real_change_is_still_drift(first: str, second: str) -> None:
    [drift] = compare(_report(first), _report(second))
    assert drift.code == "BASELINE-BANNER-CHANGED"
    assert first in drift.evidence and second in drift.evidence  # quoted as seen, not normalised


def test_an_unchanged_demo_against_its_own_baseline_shows_no_banner_drift() -> None:
    """Two real runs of the demo lab differ in APOP stamps and ports; the baseline sees no banner change."""
    runs = [runner.invoke(app, ["demo", "--json"]).stdout for _ in range(2)]
    before, after = (report_from_jsonable(json.loads(text)) for text in runs)
    pop3 = [h.banner for h in (*before.handshakes, *after.handshakes) if h.target.service is Service.POP3]
    assert len(set(pop3)) == 2  # the stamps really differ between the runs
    # the demo's ports are ephemeral: compare the second run as if on the first run's ports
    ports = {h.target.service: h.target.port for h in before.handshakes}
    moved = replace(
        after,
        handshakes=tuple(replace(h, target=replace(h.target, port=ports[h.target.service])) for h in after.handshakes),
    )
    assert [f.code for f in compare(before, moved) if f.code == "BASELINE-BANNER-CHANGED"] == []
