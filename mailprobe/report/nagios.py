"""The Nagios/Icinga plugin format (monitoring-plugins guidelines): a status line, perfdata, long output.

    MAILPROBE WARNING - example.com: 2 medium (worst: medium); ... | 'smtp_connect_ms'=11.8ms;;;0 ...
    [MEDIUM] TLS-CERT-EXPIRING mx2.example.com:25: Certificate expires soon

The state, first rule that applies (Thresholds: --critical-on, default --fail-on or high; --warning-on,
default medium):
  UNKNOWN (3)   nothing could be measured: every target was refused, unresolvable or unreachable for a
                local reason (errors only), egress was inconclusive, or the report is empty (an interrupted
                run that finished nothing); also bad input (see `unknown`)
  CRITICAL (2)  a finding at or above the critical threshold
  WARNING (1)   a finding at or above the warning threshold
  UNKNOWN (3)   part of the run could not be probed (an error beside results, or a target an interrupted
                run did not finish): never OK
  OK (0)        everything else
Perfdata labels are unique (qualified by host, then address and port, only when needed) and hold only
[A-Za-z0-9_.:@-]; text never holds a `|`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mailprobe.model import HandshakeResult, PortResult, PortState, ProbeStatus, Report, Severity
from mailprobe.report import describe
from mailprobe.report.escape import terminal_safe
from mailprobe.report.summary import could_not_probe, error_lines, listed_errors, summarize

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# Certificate lifetime thresholds for the perfdata (alert when fewer days are left).
CERT_WARN_DAYS = 21
CERT_CRIT_DAYS = 7
MAX_LONG_LINES = 25
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@-]")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Which findings make which state: at or above `critical` CRITICAL, else at or above `warning` WARNING.
    None: never."""

    warning: Severity | None = Severity.MEDIUM
    critical: Severity | None = Severity.HIGH

    def state(self, worst: Severity | None) -> int:
        if worst is None:
            return OK
        if self.critical is not None and worst.rank >= self.critical.rank:
            return CRITICAL
        if self.warning is not None and worst.rank >= self.warning.rank:
            return WARNING
        return OK


def _text(value: str) -> str:
    """One line of plugin output: escaped, and no `|` (it would start the perfdata)."""
    return terminal_safe(value).replace("|", "\\x7c")


def _label(text: str) -> str:
    return _LABEL_UNSAFE.sub("_", text)


def _unique_labels(variants: Sequence[Sequence[str]]) -> list[str]:
    """For each item its label variants, shortest first: the first level at which all labels differ."""
    if not variants:
        return []
    for level in range(len(variants[0])):
        labels = [_label(v[level]) for v in variants]
        if len(set(labels)) == len(labels):
            return labels
    labels = [_label(v[-1]) for v in variants]
    return [f"{label}#{i}" if labels.count(label) > 1 else label for i, label in enumerate(labels, 1)]


def _family(items: Sequence[T], variants: Callable[[T], Sequence[str]], value: Callable[[T], str]) -> list[str]:
    labels = _unique_labels([variants(item) for item in items])
    return [f"'{label}'={value(item)}" for label, item in zip(labels, items, strict=True)]


def _port_variants(p: PortResult) -> tuple[str, ...]:
    name = p.service.value if p.service else str(p.port)
    return f"{name}_connect_ms", f"{p.host}_{name}_connect_ms", f"{p.address}_{p.port}_connect_ms"


def _handshake_variants(metric: str) -> Callable[[HandshakeResult], tuple[str, ...]]:
    def variants(h: HandshakeResult) -> tuple[str, ...]:
        t = h.target
        service = t.service.value
        return f"{service}_{metric}", f"{t.host}_{service}_{metric}", f"{t.address}_{t.port}_{metric}"

    return variants


def _days_left(h: HandshakeResult) -> str:
    """A plain number (the label says days): the guidelines' units are s, ms, us, %, B, KB, MB, TB and c only, and
    a grapher that knows `d` would turn it into seconds."""
    days = h.tls.leaf.days_left if h.tls is not None and h.tls.leaf is not None else 0
    return f"{days};{CERT_WARN_DAYS}:;{CERT_CRIT_DAYS}:"


def perfdata(report: Report) -> str:
    """Connect and handshake times of what answered, certificate days left, counts, total time."""
    ports = [p for p in report.ports if p.state is PortState.OPEN]
    handshakes = [h for h in report.handshakes if h.status is ProbeStatus.SUCCESS]
    certs = [h for h in report.handshakes if h.tls is not None and h.tls.leaf is not None]
    items = _family(ports, _port_variants, lambda p: f"{p.elapsed_ms:.1f}ms;;;0")
    items += _family(handshakes, _handshake_variants("handshake_ms"), lambda h: f"{h.elapsed_ms:.1f}ms;;;0")
    items += _family(certs, _handshake_variants("cert_days_left"), _days_left)
    s = summarize(report)
    items += [f"'findings_{severity.value}'={n};;;0" for severity, n in reversed(s.by_severity)]
    items += [f"'errors'={s.errors};;;0", f"'elapsed_ms'={report.elapsed_ms:.1f}ms;;;0"]
    return " ".join(items)


def _status(report: Report, thresholds: Thresholds) -> int:
    s = summarize(report)
    if not s.has_results:
        return UNKNOWN
    state = thresholds.state(s.worst)
    if state == OK and (s.errors or report.interrupted):
        return UNKNOWN
    return state


def _targets(report: Report) -> str:
    shown = list(report.targets[:3])
    more = len(report.targets) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "") or "no targets"


def unknown(message: str) -> str:
    """The whole output for a run that could not start (bad input, an unusable resolver): exit code 3."""
    return f"MAILPROBE UNKNOWN - {_text(message)}\n"


def _nothing_measured(report: Report, errors: Sequence[str]) -> str:
    """Why an UNKNOWN run measured nothing: interrupted first, then the first error, or an inconclusive egress."""
    reason = f"INTERRUPTED, {len(report.unfinished)} did not finish, " if report.interrupted else ""
    reason += "nothing measured"
    if errors:
        reason += f": {errors[0]}"
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more errors)"
    elif report.egress is not None:
        reason += f": egress {report.egress.verdict.value}: {report.egress.explanation}"
    return reason


def nagios_status(report: Report, thresholds: Thresholds | None = None) -> tuple[int, str]:
    """The plugin exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and its output (with a final newline).

    The unfinished targets of an interrupted run count as errors (perfdata `errors`), and the status line
    says "INTERRUPTED, N did not finish" for them; "could not probe: ..." names the first other error, when
    there is one."""
    code = _status(report, thresholds or Thresholds())
    errors = error_lines(listed_errors(could_not_probe(report)))
    if code == UNKNOWN and not summarize(report).has_results:
        summary = f"{_targets(report)}: {_nothing_measured(report, errors)}"
    elif code == UNKNOWN:
        summary = f"{_targets(report)}: {describe.summary_line(report)}"
        if errors:
            summary += f"; could not probe: {errors[0]}"
    else:
        summary = f"{_targets(report)}: {describe.summary_line(report)}"
        worst = sorted(report.findings, key=lambda f: -f.severity.rank)[:1]
        if code != OK and worst:
            summary += f"; top: {worst[0].code} {worst[0].target}"
    lines = [f"MAILPROBE {STATUS_NAMES[code]} - {_text(summary)} | {perfdata(report)}"]
    shown = sorted((f for f in report.findings if f.severity is not Severity.INFO), key=lambda f: -f.severity.rank)
    long = [f"[{f.severity.value.upper()}] {f.code} {f.target}: {f.title}" for f in shown]
    long += [f"[ERROR] {line}" for line in errors]
    if len(long) > MAX_LONG_LINES:
        long = [*long[: MAX_LONG_LINES - 1], f"... and {len(long) - MAX_LONG_LINES + 1} more"]
    lines += [_text(line) for line in long]
    return code, "\n".join(lines) + "\n"


def render(report: Report, thresholds: Thresholds | None = None) -> str:
    return nagios_status(report, thresholds)[1]
