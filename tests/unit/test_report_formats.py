"""The renderers: the registry, and each format's own promises (golden files: test_report_golden.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from itertools import takewhile

import pytest
from samples import hostile_report, sample_report

from mailprobe.errors import UsageError
from mailprobe.model import (
    BusyPath,
    Category,
    CheckResult,
    CheckStatus,
    Direction,
    ErrorKind,
    Finding,
    HandshakeResult,
    PortResult,
    PortState,
    ProbeStatus,
    Report,
    RunError,
    Service,
    Severity,
    Target,
    TranscriptEntry,
)
from mailprobe.report import FORMATS, render
from mailprobe.report import table as table_format
from mailprobe.report.grouping import group_by_target, host_part
from mailprobe.report.transcript import render_transcript

SGR = re.compile(r"\x1b\[[0-9;]*m")


def empty_report(**changes: object) -> Report:
    return replace(Report("audit", ("example.com",), "2026-09-30T12:00:00Z", 5.0), **changes)  # type: ignore[arg-type]


def test_every_format_is_registered_and_renders_an_empty_report() -> None:
    assert FORMATS == ("table", "json", "jsonl", "junit", "markdown", "html", "nagios")
    for fmt in FORMATS:
        assert render(empty_report(), fmt).endswith("\n")


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown format 'yaml'"):
        render(sample_report(), "yaml")


# --- table --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [sample_report, hostile_report])
@pytest.mark.parametrize("width", [60, 80, table_format.DEFAULT_WIDTH, 120])
def test_table_fits_its_width(make: object, width: int) -> None:
    out = render(make(), "table", transcript=True, color=True, width=width)  # type: ignore[operator]
    assert max(len(line) for line in SGR.sub("", out).splitlines()) <= width


def test_table_colour_only_when_asked() -> None:
    plain = render(sample_report(), "table")
    coloured = render(sample_report(), "table", color=True)
    assert "\x1b" not in plain
    assert "\x1b[31mHIGH\x1b[0m" in coloured and "\x1b[33mMEDIUM\x1b[0m" in coloured
    assert SGR.sub("", coloured) == plain


def test_table_shows_the_starttls_story_and_certificate() -> None:
    out = render(sample_report(), "table")
    for expected in (
        "added: AUTH PLAIN LOGIN; removed: STARTTLS",
        "AUTH before TLS  (none)",
        "NOT trusted: unable to get local issuer certificate",
        "host match       NO (mx2.example.com)",
        "2026-10-05T00:00:00Z (5 days left)",
        "198.51.100.10 -> mx1.example.com (FCrDNS ok)",
        "no-response (2 tries)",
        "Summary: 1 high, 2 medium, 1 low, 1 info (worst: high)",
    ):
        assert expected in out, expected


def test_table_says_a_silent_port_was_probed_while_its_network_was_busy() -> None:
    report = sample_report()
    silent = next(p for p in report.ports if p.state is PortState.FILTERED)
    busy = replace(silent, attempts=6, rounds=2, busy_path=BusyPath.LOST_SYNS)
    out = render(replace(report, ports=(busy,)), "table", width=200)
    assert "no-response (6 tries in 2 rounds; this port on its network answered only a retry shortly before)" in out


def test_table_appends_transcripts_only_when_asked() -> None:
    assert "transcript:" not in render(sample_report(), "table")
    out = render(sample_report(), "table", transcript=True)
    assert "---- TLS TLSv1.3 TLS_AES_256_GCM_SHA384 ----  # handshake done" in out


def test_table_wraps_long_capability_lists() -> None:
    h = sample_report().handshakes[0]
    many = tuple(replace(h.capabilities_before[0], keyword=f"X-EXTENSION-{i}") for i in range(30))
    out = render(replace(sample_report(), handshakes=(replace(h, capabilities_before=many),)), "table")
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  capabilities "))
    column = len(lines[first]) - len(lines[first][len("  capabilities ") :].lstrip())  # where the value starts
    cell = [lines[first][column:]]
    cell += [line[column:] for line in takewhile(lambda line: line.startswith(" " * column), lines[first + 1 :])]
    assert len(cell) > 3 and all(len(line) <= 100 for line in lines)
    assert " ".join(cell) == ", ".join(f"X-EXTENSION-{i}" for i in range(30))


def test_expired_certificate_is_said_so() -> None:
    h = sample_report().handshakes[0]
    assert h.tls is not None and h.tls.leaf is not None
    expired = replace(h, tls=replace(h.tls, chain=(replace(h.tls.leaf, days_left=-3),)))
    assert "(EXPIRED 3 days ago)" in render(replace(sample_report(), handshakes=(expired,)), "table")


# --- transcript ---------------------------------------------------------------------------------------


def _handshake(*entries: TranscriptEntry) -> HandshakeResult:
    target = Target("mx.example.com", "127.0.0.1", 2525, Service.SMTP)
    return HandshakeResult(target, ProbeStatus.SUCCESS, "", 1.0, transcript=entries)


def test_transcript_markers_timing_notes_and_tls_boundary() -> None:
    out = render_transcript(
        _handshake(
            TranscriptEntry(Direction.SERVER, b"220 hi\r\n", 0.0),
            TranscriptEntry(Direction.CLIENT, b"STARTTLS\r\n", 1.25, "upgrade"),
            TranscriptEntry(Direction.TLS, b"TLSv1.3", 9.0),
            TranscriptEntry(Direction.NOTE, b"3 bytes injected before TLS, discarded", 9.5),
            TranscriptEntry(Direction.NOTE, b"", 9.9, "connection closed"),
        )
    )
    assert out.splitlines() == [
        "transcript: smtp mx.example.com 127.0.0.1:2525",
        "    0.0 ms  S: 220 hi",
        "    1.2 ms  C: STARTTLS  # upgrade",
        "    9.0 ms  ---- TLS TLSv1.3 ----",
        "    9.5 ms  NOTE: 3 bytes injected before TLS, discarded",
        "    9.9 ms  NOTE: connection closed",
    ]


def test_transcript_shows_protocol_oddities() -> None:
    out = render_transcript(_handshake(TranscriptEntry(Direction.SERVER, b"250-a\r\n250 b\nX\x00\x1b\xff", 2.0)))
    assert out.splitlines()[1:] == ["    2.0 ms  S: 250-a", "            S: 250 b\\nX\\x00\\x1b\\xff (no CRLF)"]


def test_transcript_cuts_long_lines_without_losing_a_character() -> None:
    line = "250 " + "".join(chr(ord("a") + i % 26) for i in range(300))
    entry = TranscriptEntry(Direction.SERVER, line.encode() + b"\r\n", 1.0, "n")
    rows = render_transcript(_handshake(entry), width=80).splitlines()[1:]
    assert all(len(row) <= 80 for row in rows) and len(rows) > 4
    assert rows[-1] == " " * 12 + "# n"  # the note moves under a line that was cut
    assert all(row.startswith(" " * 15) for row in rows[1:-1])  # continuations hang under the text
    assert rows[0][12:] + "".join(row[15:] for row in rows[1:-1]) == "S: " + line


def test_transcript_colour_only_when_asked() -> None:
    h = _handshake(TranscriptEntry(Direction.CLIENT, b"QUIT\r\n", 1.0))
    assert "\x1b" not in render_transcript(h)
    assert "\x1b[36mC: QUIT\x1b[0m" in render_transcript(h, color=True)


def test_empty_transcript_says_so() -> None:
    assert "(no transcript recorded)" in render_transcript(_handshake())


# --- grouping -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "host"),
    [
        ("mx1.example.com:25", "mx1.example.com"),
        ("[2001:db8::1]:25", "2001:db8::1"),
        ("a/smtp", "a"),
        ("2001:db8::1", "2001:db8::1"),
        ("example.com", "example.com"),
    ],
)
def test_host_part(target: str, host: str) -> None:
    assert host_part(target) == host


def test_findings_join_their_host_by_name_address_or_bare_ipv6() -> None:
    report = replace(
        sample_report(),
        findings=(
            Finding("A", Severity.LOW, "MX1.example.com.", "t", "e", "f"),
            Finding("B", Severity.LOW, "198.51.100.10:25", "t", "e", "f"),
            Finding("C", Severity.LOW, "2001:db8::25:25", "t", "e", "f"),
            Finding("D", Severity.LOW, "elsewhere.example", "t", "e", "f"),
        ),
    )
    groups = {g.key: [f.code for f in g.findings] for g in group_by_target(report)}
    assert groups == {
        "example.com": [],
        "mx1.example.com": ["A", "B"],
        "mx2.example.com": ["C"],
        "elsewhere.example": ["D"],
    }


# --- markdown, html, junit ----------------------------------------------------------------------------


def test_markdown_tables_have_a_constant_number_of_cells() -> None:
    for report in (sample_report(), hostile_report()):
        table: list[int] = []
        for line in [*render(report, "markdown").splitlines(), ""]:
            if line.startswith("|"):
                table.append(len(re.findall(r"(?<!\\)\|", line)))
            elif table:
                assert len(set(table)) == 1, table
                table = []


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_is_self_contained() -> None:
    parser = _Tags()
    parser.feed(render(sample_report(), "html", transcript=True))
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert [name for name, _ in parser.attrs if name == "src"] == []
    hrefs = [value or "" for name, value in parser.attrs if name == "href"]
    assert hrefs and all(href.startswith("#") for href in hrefs)  # in-page links only
    assert {"html", "head", "style", "body", "table", "details", "pre"} <= set(parser.tags)


def _junit(report: Report) -> ET.Element:
    return ET.fromstring(render(report, "junit"))


def test_junit_has_one_testcase_per_check_passes_included() -> None:
    report = sample_report()
    root = _junit(report)
    cases = list(root.iter("testcase"))
    assert len(cases) == len(report.checks)
    assert [s.get("name") for s in root] == ["dns", "policy", "reachability", "tls", "smtp"]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (str(len(report.checks)), "3", "0")
    passed = root.find(".//testcase[@name='starttls mx1.example.com [198.51.100.10]:25/smtp']")
    assert passed is not None and len(passed) == 0 and passed.get("classname") == "mailprobe.smtp"


def test_junit_failures_carry_every_finding_of_the_check_with_evidence_and_places() -> None:
    root = _junit(sample_report())
    case = root.find(".//testcase[@name='tls-certificate mx2.example.com [2001:db8::25]:25/smtp']")
    assert case is not None and case.get("classname") == "mailprobe.tls"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "high"  # the worst of the two
    assert failure.get("message") == (
        "TLS-HOSTNAME-MISMATCH: Certificate does not match the host name; TLS-CERT-EXPIRING: Certificate expires soon"
    )
    text = failure.text or ""
    assert "evidence: SAN old.example.net" in text and "places: mx2.example.com [2001:db8::25]:25/smtp" in text
    assert "notAfter 2026-10-05T00:00:00Z" in text
    out = case.findtext("system-out") or ""
    assert "host match: NO (mx2.example.com)" in out  # the handshake's facts beside a failure


def test_junit_info_only_findings_pass_with_the_finding_in_system_out() -> None:
    case = _junit(sample_report()).find(".//testcase[@name='mta-sts example.com']")
    assert case is not None and case.find("failure") is None
    assert "MTA-STS-MISSING [info]" in (case.findtext("system-out") or "")


def test_a_fixed_problem_turns_into_a_pass() -> None:
    """The same check on the same subject keeps its testcase name; only its outcome changes."""
    before = sample_report()
    after = replace(
        before,
        findings=tuple(f for f in before.findings if f.code != "AUTH-BEFORE-TLS"),
        checks=tuple(
            replace(c, status=CheckStatus.PASSED, codes=()) if c.codes == ("AUTH-BEFORE-TLS",) else c
            for c in before.checks
        ),
    )
    name = ".//testcase[@name='plaintext-auth mx2.example.com [2001:db8::25]:25/smtp']"
    was, now = _junit(before).find(name), _junit(after).find(name)
    assert was is not None and was.find("failure") is not None
    assert now is not None and len(now) == 0


def test_junit_errors_are_what_could_not_be_probed_and_crashed_checks() -> None:
    report = replace(
        sample_report(),
        ports=(*sample_report().ports, PortResult("h", "127.0.0.1", 1, PortState.ERROR, "bad address", 0.0)),
        errors=(RunError("example.org", ErrorKind.DNS, "resolver timeout"),),
        checks=(
            *sample_report().checks,
            CheckResult("spf", Category.POLICY, "example.org", CheckStatus.ERROR, detail="ValueError('x')"),
        ),
        findings=(*sample_report().findings, Finding("BASELINE-PORT-CHANGED", Severity.MEDIUM, "h:1", "t", "e", "f")),
    )
    root = _junit(report)
    errors = root.find("testsuite[@name='errors']")
    assert errors is not None
    assert [c.get("name") for c in errors] == ["dns example.org", "network h [127.0.0.1]:1"]
    crashed = root.find(".//testcase[@name='spf example.org']/error")
    assert crashed is not None and "ValueError" in (crashed.get("message") or "")
    # a finding no check raised (a baseline's drift) still gets its testcase
    drift = root.find(".//testcase[@name='BASELINE-PORT-CHANGED h:1']/failure")
    assert drift is not None and drift.get("type") == "medium"
    assert root.get("errors") == "3"


def test_the_summary_counts_problems_and_their_places() -> None:
    from mailprobe.report.describe import summary_line

    one = Finding("TLS-CERT-EXPIRED", Severity.HIGH, "mx.example.test", "t", "e", "f", ("a:25", "a:587", "b:25"))
    other = Finding("PORT-CLOSED", Severity.INFO, "mx.example.test", "t", "e", "f", ("a:110",))
    line = summary_line(replace(sample_report(), findings=(one, other)))
    assert line.startswith("2 problems on 4 places: 1 high, 1 info (worst: high)")
