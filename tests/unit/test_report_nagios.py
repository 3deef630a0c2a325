"""nagios.py: status rules, output shape and perfdata of the monitoring-plugins format."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from samples import sample_report

from mailprobe.cli.common import output_options
from mailprobe.errors import UsageError
from mailprobe.model import (
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
)
from mailprobe.report.nagios import STATUS_NAMES, Thresholds, nagios_status, perfdata, unknown

# The monitoring-plugins guidelines' units of measurement: none, s, ms, us, %, B, KB, MB, TB, c.
PERF_ITEM = re.compile(r"'[A-Za-z0-9_.:@#-]+'=-?[0-9.]+(s|ms|us|%|B|KB|MB|TB|c)?(;[0-9:]*){2,4}")


def _finding(severity: Severity, code: str = "X") -> Finding:
    return Finding(code, severity, "example.com", "title", "evidence", "fix")


def _report(*findings: Finding, errors: tuple[str, ...] = (), results: bool = True) -> Report:
    base = sample_report()
    if not results:
        return Report("audit", ("example.com",), base.started_at, 3.0, errors=errors)
    return replace(base, findings=findings, errors=errors)


@pytest.mark.parametrize(
    ("severities", "code", "word"),
    [
        ((), 0, "OK"),
        ((Severity.INFO, Severity.LOW), 0, "OK"),
        ((Severity.MEDIUM, Severity.LOW), 1, "WARNING"),
        ((Severity.HIGH,), 2, "CRITICAL"),
        ((Severity.CRITICAL, Severity.MEDIUM), 2, "CRITICAL"),
    ],
)
def test_status_follows_the_worst_finding(severities: tuple[Severity, ...], code: int, word: str) -> None:
    status, out = nagios_status(_report(*(_finding(s) for s in severities)))
    assert status == code
    assert out.startswith(f"MAILPROBE {word} - example.com: ")


def test_errors_without_results_are_unknown() -> None:
    status, out = nagios_status(
        _report(
            errors=(RunError("example.com", ErrorKind.DNS, "SERVFAIL"), RunError("", ErrorKind.INTERNAL, "other")),
            results=False,
        )
    )
    assert status == 3
    assert out.startswith("MAILPROBE UNKNOWN - example.com: nothing measured: example.com: SERVFAIL (and 1 more")


def test_an_empty_report_is_unknown_not_ok() -> None:
    assert nagios_status(_report(results=False))[0] == 3


def test_errors_with_results_keep_the_finding_status() -> None:
    assert (
        nagios_status(
            _report(_finding(Severity.MEDIUM), errors=(RunError("example.com", ErrorKind.NETWORK, "partial failure"),))
        )[0]
        == 1
    )


def test_sample_output_shape() -> None:
    status, out = nagios_status(sample_report())
    first, *long = out.rstrip("\n").split("\n")
    assert status == 2
    text, perf = first.split(" | ")
    assert text.endswith("top: TLS-HOSTNAME-MISMATCH mx2.example.com:25")
    items = perf.split(" ")
    assert all(PERF_ITEM.fullmatch(item) for item in items), items
    assert "'mx1.example.com_smtp_connect_ms'=11.8ms;;;0" in items
    assert "'mx2.example.com_smtp_cert_days_left'=5;21:;7:" in items
    assert "'findings_high'=1;;;0" in items
    assert long[0] == "[HIGH] TLS-HOSTNAME-MISMATCH mx2.example.com:25: Certificate does not match the host name"
    assert not any(line.startswith("[INFO]") for line in long)


def test_labels_are_short_when_unique_and_qualified_when_not() -> None:
    one = replace(sample_report(), ports=sample_report().ports[:1], handshakes=sample_report().handshakes[:1])
    assert "'smtp_connect_ms'=11.8ms;;;0" in perfdata(one)
    same_host = replace(
        one,
        ports=(
            *one.ports,
            PortResult("mx1.example.com", "198.51.100.11", 25, PortState.OPEN, "syn-ack", 2.0, Service.SMTP),
        ),
    )
    labels = re.findall(r"'([^']+)'=", perfdata(same_host))
    assert "198.51.100.10_25_connect_ms" in labels and "198.51.100.11_25_connect_ms" in labels
    assert len(labels) == len(set(labels))


def test_long_output_is_bounded() -> None:
    many = tuple(_finding(Severity.MEDIUM, f"C{i}") for i in range(100))
    out = nagios_status(_report(*many))[1]
    assert len(out.splitlines()) == 1 + 25
    assert out.splitlines()[-1] == "... and 76 more"


def test_hostile_labels_are_sanitised() -> None:
    port = PortResult("evil' host=|x", "127.0.0.1", 25, PortState.OPEN, "syn-ack", 1.0)
    other = replace(port, host="b", address="127.0.0.2")
    perf = perfdata(replace(sample_report(), ports=(port, other), handshakes=()))
    assert "'evil__host__x_smtp_connect_ms'" not in perf  # service is None: the port number names it
    assert "'evil__host__x_25_connect_ms'=1.0ms;;;0" in perf


# --- the state mapping and what could not be probed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("thresholds", "severity", "code"),
    [
        (Thresholds(), Severity.LOW, 0),
        (Thresholds(warning=Severity.LOW), Severity.LOW, 1),
        (Thresholds(critical=Severity.MEDIUM), Severity.MEDIUM, 2),
        (Thresholds(warning=None, critical=None), Severity.CRITICAL, 0),
        (Thresholds(warning=Severity.INFO, critical=None), Severity.CRITICAL, 1),
    ],
)
def test_thresholds_choose_the_state(thresholds: Thresholds, severity: Severity, code: int) -> None:
    status, out = nagios_status(_report(_finding(severity)), thresholds)
    assert status == code
    assert out.startswith(f"MAILPROBE {STATUS_NAMES[code]} - ")


def test_part_that_could_not_be_probed_is_never_ok() -> None:
    refused = PortResult(
        "mx.example.com",
        "203.0.113.9",
        25,
        PortState.ERROR,
        "refused by safety guard: 203.0.113.9 is outside MAILPROBE_ALLOW_ONLY (127.0.0.0/8)",
        0.0,
        Service.SMTP,
    )
    report = replace(sample_report(), findings=(_finding(Severity.LOW),), ports=(*sample_report().ports, refused))
    status, out = nagios_status(report)
    assert status == 3
    assert out.startswith("MAILPROBE UNKNOWN - example.com: ")
    assert "could not probe: mx.example.com [203.0.113.9]:25: refused by safety guard" in out.splitlines()[0]
    assert "'errors'=1;;;0" in out


def test_a_target_that_could_not_be_probed_at_all_is_unknown_whatever_its_findings() -> None:
    """A handshake the guard refused ends in `error` and its check reports HANDSHAKE-FAILED (high): still
    nothing was measured, so UNKNOWN, not CRITICAL."""
    target = Target("203.0.113.9", "203.0.113.9", 25, Service.SMTP)
    refused = HandshakeResult(
        target,
        ProbeStatus.ERROR,
        "internal error: UnsafeTargetError('203.0.113.9 is outside MAILPROBE_ALLOW_ONLY (127.0.0.0/8)')",
        0.0,
    )
    report = Report(
        "handshake",
        ("203.0.113.9:25",),
        "2026-09-30T12:00:00Z",
        3.0,
        handshakes=(refused,),
        findings=(_finding(Severity.HIGH, "HANDSHAKE-FAILED"),),
    )
    status, out = nagios_status(report)
    assert status == 3 and out.startswith("MAILPROBE UNKNOWN - 203.0.113.9:25: nothing measured: 203.0.113.9:25/smtp")


def test_unknown_is_one_escaped_line() -> None:
    assert unknown("bad target '\x1b[2J|x'") == "MAILPROBE UNKNOWN - bad target '\\x1b[2J\\x7cx'\n"


@pytest.mark.parametrize(
    ("options", "warning", "critical"),
    [
        ({}, Severity.MEDIUM, Severity.HIGH),
        ({"fail_on": "critical"}, Severity.MEDIUM, Severity.CRITICAL),
        ({"fail_on": "low"}, Severity.LOW, Severity.LOW),
        ({"fail_on": "never"}, Severity.MEDIUM, None),
        ({"fail_on": "low", "critical_on": "high"}, Severity.MEDIUM, Severity.HIGH),
        ({"warning_on": "info", "critical_on": "never"}, Severity.INFO, None),
        ({"fail_on": "never", "chosen": False}, Severity.MEDIUM, Severity.HIGH),  # demo/egress: --fail-on not given
    ],
)
def test_the_cli_mapping_honours_fail_on(options: dict[str, Any], warning: Severity, critical: Severity) -> None:
    out = output_options(
        "nagios",
        False,
        None,
        options.get("fail_on", "high"),
        False,
        warning_on=options.get("warning_on", ""),
        critical_on=options.get("critical_on", ""),
        fail_on_chosen=options.get("chosen", "fail_on" in options),
    )
    assert out.thresholds() == Thresholds(warning=warning, critical=critical)


def test_a_warning_threshold_above_the_critical_one_is_bad_input() -> None:
    with pytest.raises(UsageError, match="--warning-on high is above the critical threshold medium"):
        output_options("nagios", False, None, "high", False, warning_on="high", critical_on="medium")
    with pytest.raises(UsageError, match="bad --critical-on 'severe'"):
        output_options("nagios", False, None, "high", False, critical_on="severe")
