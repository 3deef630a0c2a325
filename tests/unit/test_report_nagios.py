"""nagios.py: status rules, output shape and perfdata of the monitoring-plugins format."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from samples import sample_report

from mailprobe.model import ErrorKind, Finding, PortResult, PortState, Report, RunError, Service, Severity
from mailprobe.report.nagios import nagios_status, perfdata

PERF_ITEM = re.compile(r"'[A-Za-z0-9_.:@#-]+'=-?[0-9.]+(ms|d)?(;[0-9:]*){2,4}")


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
    assert text.endswith("top: TLS_CERT_HOSTNAME_MISMATCH mx2.example.com:25")
    items = perf.split(" ")
    assert all(PERF_ITEM.fullmatch(item) for item in items), items
    assert "'mx1.example.com_smtp_connect_ms'=11.8ms;;;0" in items
    assert "'mx2.example.com_smtp_cert_days_left'=5d;21:;7:" in items
    assert "'findings_high'=1;;;0" in items
    assert long[0] == "[HIGH] TLS_CERT_HOSTNAME_MISMATCH mx2.example.com:25: Certificate does not match the host name"
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
