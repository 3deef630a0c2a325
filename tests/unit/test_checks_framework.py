"""The judging framework: every check records that it ran, a crash loses one subject's verdict only, and
one problem is one finding with all its places."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from build import cert, session, tls
from judging import report_of

from mailprobe.checks.catalogue import finding
from mailprobe.checks.defs import all_codes
from mailprobe.checks.defs import reach as r
from mailprobe.checks.framework import Check, group_findings, run_checks
from mailprobe.checks.places import handshakes, place
from mailprobe.checks.run import CHECKS, judge
from mailprobe.model import (
    Category,
    CheckStatus,
    ErrorKind,
    Finding,
    HandshakeResult,
    Report,
    Service,
    Severity,
    VerifyFailure,
)


def test_passed_checks_are_recorded_per_subject() -> None:
    good = session(
        "mail.example.test",
        Service.SUBMISSION,
        origin="user",
        tls_facts=tls("mail.example.test", cert("mail.example.test")),
    )
    verdicts = judge(report_of(handshakes=(good,)))
    assert verdicts.findings == ()
    by_check = {(c.check, c.subject): c.status for c in verdicts.checks}
    assert by_check[("tls-certificate", "mail.example.test [203.0.113.25]:587/submission")] is CheckStatus.PASSED
    assert by_check[("starttls", "mail.example.test [203.0.113.25]:587/submission")] is CheckStatus.PASSED
    assert all(status is CheckStatus.PASSED for status in by_check.values())


def test_a_failed_check_names_its_codes() -> None:
    expired = cert("mail.example.test", days_left=-2)
    h = session(
        "mail.example.test",
        Service.SUBMISSION,
        origin="user",
        tls_facts=tls("mail.example.test", expired, failure=VerifyFailure.EXPIRED),
    )
    verdicts = judge(report_of(handshakes=(h,)))
    [failed] = [c for c in verdicts.checks if c.status is CheckStatus.FAILED]
    assert (failed.check, failed.codes, failed.category) == ("tls-certificate", ("TLS-CERT-EXPIRED",), Category.TLS)


def test_a_crash_judging_one_subject_is_an_error_for_that_subject_only() -> None:
    def judge_one(report: Report, h: HandshakeResult) -> Iterator[Finding]:
        if h.target.port == 587:
            raise LookupError("a bug")
        yield finding(r.PORT_CLOSED, h.target.host, "seen", places=(place(h),))

    check = Check("fragile", Category.SMTP, handshakes, place, judge_one)
    shakes = (session("a.example.test", Service.SMTP), session("b.example.test", Service.SUBMISSION))
    verdicts = run_checks(report_of(handshakes=shakes), [check])
    statuses = {c.subject: c.status for c in verdicts.checks}
    assert statuses == {
        "a.example.test [203.0.113.25]:25/smtp": CheckStatus.FAILED,
        "b.example.test [203.0.113.25]:587/submission": CheckStatus.ERROR,
    }
    [error] = verdicts.errors
    assert error.kind is ErrorKind.CHECK and "LookupError('a bug')" in error.message
    assert [f.code for f in verdicts.findings] == ["PORT-CLOSED"]


def test_a_crash_listing_subjects_loses_that_check_only() -> None:
    def broken(report: Report) -> Iterator[HandshakeResult]:
        raise ValueError("no")
        yield  # pragma: no cover

    check = Check("broken", Category.SMTP, broken, place, lambda report, h: ())
    verdicts = run_checks(report_of(), [check, *CHECKS])
    assert [c.status for c in verdicts.checks if c.check == "broken"] == [CheckStatus.ERROR]
    assert len(verdicts.errors) == 1


def test_grouping_merges_places_of_the_same_problem() -> None:
    one = Finding("X", Severity.LOW, "mx1", "t", "same evidence", "fix", ("mx1:25",))
    two = replace(one, target="mx2", places=("mx2:25",))
    other = replace(one, evidence="other evidence", places=("mx1:587",))
    grouped = group_findings([one, two, other, one])
    assert [(f.target, f.places) for f in grouped] == [("mx1, mx2", ("mx1:25", "mx2:25")), ("mx1", ("mx1:587",))]


def test_every_check_name_is_unique_and_every_category_is_a_category() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names))
    assert all(isinstance(c.category, Category) for c in CHECKS)


def test_every_code_has_a_category_title_why_and_fix() -> None:
    for code, kind in all_codes().items():
        assert kind.code == code and kind.title and kind.why and kind.fix, code
        assert isinstance(kind.category, Category)


def test_the_service_registry_is_the_one_place_ports_tls_and_srv_names_come_from() -> None:
    from mailprobe.dns.policy import SRV_SERVICES
    from mailprobe.model import MAIL_PORTS, SERVICES, Protocol

    assert MAIL_PORTS == (25, 587, 465, 110, 995, 143, 993)
    assert [label for label, _ in SRV_SERVICES] == [s.srv_label for s in SERVICES.values() if s.srv_label]
    assert all(Service.for_port(spec.port) is service for service, spec in SERVICES.items())
    assert {Category(p.value) for p in Protocol}  # every protocol has its scorecard row
