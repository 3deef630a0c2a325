"""TLS verdicts in the context an expert weighs: DANE, MTA-STS mode, MX versus client names (RFC 7672, 8461)."""

from __future__ import annotations

from build import cert, domain, session, srv_record, sts_record, tls, tlsa_record
from judging import findings

from mailprobe.model import Finding, RunContext, Service, Severity, StartTlsOutcome, VerifyFailure

MX = "mx1.example.test"
WRONG = cert("other.hosting.test", key="served")  # a certificate naming another host: the usual case


def tls_findings(*parts: Finding) -> dict[str, Severity]:
    return {f.code: f.severity for f in parts if f.code.startswith(("TLS-", "DANE-"))}


def judge_port25(
    leaf_tls: object, records: tuple[object, ...] = (), context: RunContext | None = None
) -> dict[str, Severity]:
    d = domain("example.test", MX, records=records)  # type: ignore[arg-type]
    h = session(MX, Service.SMTP, tls_facts=leaf_tls)  # type: ignore[arg-type]
    return tls_findings(*findings(dns=(d,), handshakes=(h,), context=context))


# --- port 25: who verifies decides the cost --------------------------------------------------------------


def test_dane_ee_match_makes_names_dates_and_issuer_irrelevant() -> None:
    expired_wrong = cert("other.hosting.test", key="served", days_left=-10, self_signed=True)
    facts = tls(MX, expired_wrong, failure=VerifyFailure.EXPIRED)
    d = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 1 {expired_wrong.spki_sha256}"),))
    found = findings(dns=(d,), handshakes=(session(MX, tls_facts=facts),))
    assert tls_findings(*found) == {"TLS-DANE-EE-AUTHENTICATED": Severity.INFO}
    [note] = [f for f in found if f.code == "TLS-DANE-EE-AUTHENTICATED"]
    assert "TLS-HOSTNAME-MISMATCH" in note.evidence and "TLS-CERT-EXPIRED" in note.evidence


def test_dane_ee_needs_dnssec() -> None:
    facts = tls(MX, WRONG, failure=VerifyFailure.UNKNOWN_ISSUER)
    unsigned = tlsa_record(MX, f"3 1 1 {WRONG.spki_sha256}", authenticated=False)
    got = judge_port25(facts, (unsigned,))
    # Senders ignore unvalidated TLSA records (said so): opportunistic TLS it is.
    d = domain("example.test", MX, records=(unsigned,))
    [name] = [
        f for f in findings(dns=(d,), handshakes=(session(MX, tls_facts=facts),)) if f.code == "TLS-HOSTNAME-MISMATCH"
    ]
    assert "TLSA records of this host are not DNSSEC-validated" in name.evidence
    assert got == {
        "DANE-UNAUTHENTICATED": Severity.MEDIUM,
        "TLS-HOSTNAME-MISMATCH": Severity.LOW,
        "TLS-CERT-UNTRUSTED": Severity.LOW,
    }


def test_dane_mismatch_is_critical_and_pkix_faults_stay_opportunistic() -> None:
    facts = tls(MX, WRONG, failure=VerifyFailure.UNKNOWN_ISSUER)
    got = judge_port25(facts, (tlsa_record(MX, f"3 1 1 {'00' * 32}"),))
    assert got["DANE-MISMATCH"] is Severity.CRITICAL


def test_dane_ta_checks_names_and_dates_but_not_the_public_issuer() -> None:
    anchor = cert("Private CA", key="anchor", self_signed=True)
    leaf = cert(MX, key="served", issuer="CN=Private CA")
    facts = tls(MX, leaf, anchor, failure=VerifyFailure.UNKNOWN_ISSUER)
    ta = tlsa_record(MX, f"2 0 1 {anchor.fingerprint_sha256}")
    assert judge_port25(facts, (ta,)) == {}  # the private CA is the anchor: nothing to say
    wrong_name = cert("other.hosting.test", key="served", issuer="CN=Private CA")
    got = judge_port25(tls(MX, wrong_name, anchor, failure=VerifyFailure.UNKNOWN_ISSUER), (ta,))
    assert got == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}


def test_dane_sha512_record_in_a_rollover_set_matches() -> None:
    """Senders match any usable record: a 3 1 2 for the key served makes a stale 3 1 1 harmless."""
    rollover = (tlsa_record(MX, f"3 1 1 {'11' * 32}"), tlsa_record(MX, f"3 1 2 {WRONG.spki_sha512}"))
    facts = tls(MX, WRONG, failure=VerifyFailure.UNKNOWN_ISSUER)
    assert judge_port25(facts, rollover) == {"TLS-DANE-EE-AUTHENTICATED": Severity.INFO}


def test_dane_sha512_record_matching_nothing_is_a_mismatch() -> None:
    facts = tls(MX, WRONG, failure=VerifyFailure.UNKNOWN_ISSUER)
    d = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 2 {'00' * 64}"),))
    found = findings(dns=(d,), handshakes=(session(MX, tls_facts=facts),))
    [mismatch] = [f for f in found if f.code == "DANE-MISMATCH"]
    assert mismatch.severity is Severity.CRITICAL
    assert f"SPKI sha512 {WRONG.spki_sha512[:16]}" in mismatch.evidence
    # The certificate's own faults are not said to lack DANE: the records exist and match nothing.
    assert not any("no DANE" in f.evidence for f in found)
    [name] = [f for f in found if f.code == "TLS-HOSTNAME-MISMATCH"]
    assert "match no certificate served" in name.evidence


def test_dane_ta_sha512_matches_an_intermediate() -> None:
    root = cert("Private Root", key="root", self_signed=True)
    intermediate = cert("Private CA", key="intermediate", issuer="CN=Private Root")
    leaf = cert(MX, key="served", issuer="CN=Private CA")
    ta = tlsa_record(MX, f"2 1 2 {intermediate.spki_sha512}")
    facts = tls(MX, leaf, intermediate, root, failure=VerifyFailure.UNKNOWN_ISSUER)
    assert judge_port25(facts, (ta,)) == {}  # the private CA is the anchor: nothing to say
    wrong_name = cert("other.hosting.test", key="served", issuer="CN=Private CA")
    got = judge_port25(tls(MX, wrong_name, intermediate, root, failure=VerifyFailure.UNKNOWN_ISSUER), (ta,))
    assert got == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}  # DANE-TA: names still matter
    assert "DANE-MISMATCH" in judge_port25(facts, (tlsa_record(MX, f"2 1 2 {leaf.spki_sha512}"),))


def test_only_a_sha512_record_authenticates_a_self_signed_certificate() -> None:
    self_signed = cert(MX, key="served", self_signed=True)
    d = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 2 {self_signed.spki_sha512}"),))
    found = findings(
        dns=(d,), handshakes=(session(MX, tls_facts=tls(MX, self_signed, failure=VerifyFailure.SELF_SIGNED)),)
    )
    assert tls_findings(*found) == {"TLS-DANE-EE-AUTHENTICATED": Severity.INFO}
    assert not any("no DANE" in f.evidence for f in found)


def test_dane_record_mailprobe_cannot_check_is_no_mismatch() -> None:
    """3 1 0 (Full) is usable by senders but not checked here: never DANE-MISMATCH, never "no DANE"."""
    d = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 0 {'30' * 91}"),))
    found = findings(
        dns=(d,), handshakes=(session(MX, tls_facts=tls(MX, WRONG, failure=VerifyFailure.UNKNOWN_ISSUER)),)
    )
    assert "DANE-MISMATCH" not in {f.code for f in found}
    [name] = [f for f in found if f.code == "TLS-HOSTNAME-MISMATCH"]
    assert "TLSA records exist for this host but were not checked" in name.evidence
    assert not any("no DANE" in f.evidence for f in found)


def test_mta_sts_enforce_makes_a_wrong_certificate_a_delivery_failure() -> None:
    facts = tls(MX, WRONG)
    got = judge_port25(facts, (sts_record("example.test", "enforce", MX),))
    assert got == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}


def test_mta_sts_testing_reports_it() -> None:
    got = judge_port25(tls(MX, WRONG), (sts_record("example.test", "testing", MX),))
    assert got == {"TLS-HOSTNAME-MISMATCH": Severity.MEDIUM}


def test_mta_sts_that_does_not_cover_the_host_leaves_it_opportunistic() -> None:
    got = judge_port25(tls(MX, WRONG), (sts_record("example.test", "enforce", "other.example.test", unmatched=(MX,)),))
    assert got == {"TLS-HOSTNAME-MISMATCH": Severity.LOW}


def test_without_dane_or_mta_sts_opportunistic_tls_tolerates_it_and_says_who_fails() -> None:
    [mismatch] = [
        f for f in findings(dns=(domain("example.test", MX),), handshakes=(session(MX, tls_facts=tls(MX, WRONG)),))
        if f.code == "TLS-HOSTNAME-MISMATCH"
    ]  # fmt: skip
    assert mismatch.severity is Severity.LOW
    assert "opportunistically and deliver anyway" in mismatch.evidence
    assert "only senders configured to verify this host would refuse" in mismatch.evidence
    expired = cert(MX, key="served", days_left=-3)
    assert judge_port25(tls(MX, expired, failure=VerifyFailure.EXPIRED)) == {"TLS-CERT-EXPIRED": Severity.MEDIUM}


# --- client ports: the name clients use, never the MX name ------------------------------------------------


def test_submission_found_through_the_mx_is_not_judged_against_the_mx_name() -> None:
    h = session(MX, Service.SUBMISSION, origin="mx", tls_facts=tls(MX, cert("mail.example.test", key="sub")))
    got = tls_findings(*findings(handshakes=(h,)))
    assert got == {"TLS-NAME-NOT-JUDGED": Severity.INFO}


def test_submission_given_by_name_is_judged_against_that_name() -> None:
    h = session("mail.example.test", Service.SUBMISSION, origin="user", tls_facts=tls("mail.example.test", WRONG))
    assert tls_findings(*findings(handshakes=(h,))) == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}


def test_srv_target_is_the_name_clients_use() -> None:
    h = session("imap.example.test", Service.IMAPS, origin="srv", tls_facts=tls("imap.example.test", WRONG))
    assert tls_findings(*findings(handshakes=(h,))) == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}


def test_by_address_names_are_judged_only_with_servername() -> None:
    address = "203.0.113.25"
    facts = tls(address, WRONG)
    h = session(address, Service.SUBMISSIONS, address=address, origin="user", tls_facts=facts)
    assert tls_findings(*findings(handshakes=(h,))) == {"TLS-NAME-NOT-JUDGED": Severity.INFO}
    named = session(
        address, Service.SUBMISSIONS, address=address, origin="user", tls_facts=tls("mail.example.test", WRONG)
    )
    got = tls_findings(*findings(handshakes=(named,), context=RunContext(servername="mail.example.test")))
    assert got == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}


def test_port_25_by_address_has_no_name_to_judge_and_one_note_for_every_port() -> None:
    """A sender checks the MX name, which a run given an address does not know: no mismatch to report."""
    address = "203.0.113.25"
    facts = tls(address, WRONG, failure=VerifyFailure.UNKNOWN_ISSUER)
    smtp, imaps = (
        session(address, service, address=address, origin="user", tls_facts=facts)
        for service in (Service.SMTP, Service.IMAPS)
    )
    found = findings(handshakes=(smtp, imaps))
    assert tls_findings(*found) == {"TLS-NAME-NOT-JUDGED": Severity.INFO, "TLS-CERT-UNTRUSTED": Severity.HIGH}
    [note] = [f for f in found if f.code == "TLS-NAME-NOT-JUDGED"]
    assert note.places == ("203.0.113.25:25/smtp", "203.0.113.25:993/imaps")  # one note, both places
    untrusted = sorted((f.severity.value, f.places) for f in found if f.code == "TLS-CERT-UNTRUSTED")
    assert untrusted == [("high", ("203.0.113.25:993/imaps",)), ("low", ("203.0.113.25:25/smtp",))]
    named = session(address, address=address, origin="user", tls_facts=tls("mx1.example.test", WRONG))
    got = tls_findings(*findings(handshakes=(named,), context=RunContext(servername="mx1.example.test")))
    assert got == {"TLS-HOSTNAME-MISMATCH": Severity.LOW}  # the name given, at opportunistic TLS's cost


def test_expiry_and_trust_matter_on_client_ports_whatever_the_name() -> None:
    expired = cert("mail.example.test", key="sub", days_left=-1)
    h = session(MX, Service.SUBMISSION, origin="mx", tls_facts=tls(MX, expired, failure=VerifyFailure.EXPIRED))
    got = tls_findings(*findings(handshakes=(h,)))
    assert got["TLS-CERT-EXPIRED"] is Severity.HIGH


# --- one problem, one finding ------------------------------------------------------------------------------


def test_one_certificate_on_seven_ports_of_two_addresses_is_one_finding() -> None:
    expired = cert("mail.example.test", key="shared", days_left=-5)
    facts = tls("mail.example.test", expired, failure=VerifyFailure.EXPIRED)
    services = (Service.SUBMISSION, Service.SUBMISSIONS, Service.IMAPS)
    shakes = [
        session("mail.example.test", service, address=address, origin="user", tls_facts=facts)
        for address in ("203.0.113.25", "2001:db8::25")
        for service in services
    ]
    expired_findings = [f for f in findings(handshakes=shakes) if f.code == "TLS-CERT-EXPIRED"]
    assert len(expired_findings) == 1
    assert len(expired_findings[0].places) == 6
    assert expired_findings[0].places[0] == "mail.example.test [203.0.113.25]:587/submission"


def test_no_tls_on_port_25_with_tlsa_records() -> None:
    d = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 1 {'11' * 32}"),))
    h = session(MX, Service.SMTP, starttls=StartTlsOutcome.NOT_OFFERED)
    [no_tls] = [f for f in findings(dns=(d,), handshakes=(h,)) if f.code == "DANE-NO-TLS"]
    assert no_tls.severity is Severity.HIGH and "1 DNSSEC-validated TLSA record(s)" in no_tls.evidence
    full = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 0 {'30' * 91}"),))  # usable, not checked
    assert "DANE-NO-TLS" in {f.code for f in findings(dns=(full,), handshakes=(h,))}


def test_no_tls_with_unsigned_or_unusable_tlsa_records_is_not_a_dane_finding() -> None:
    """Senders ignore TLSA records they cannot validate (or use): no STARTTLS is SMTP-NO-STARTTLS's news alone."""
    h = session(MX, Service.SMTP, starttls=StartTlsOutcome.NOT_OFFERED)
    unsigned = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 1 {'11' * 32}", authenticated=False),))
    assert "DANE-NO-TLS" not in {f.code for f in findings(dns=(unsigned,), handshakes=(h,))}
    pkix = domain("example.test", MX, records=(tlsa_record(MX, f"1 1 1 {'11' * 32}"),))
    assert "DANE-NO-TLS" not in {f.code for f in findings(dns=(pkix,), handshakes=(h,))}


def test_srv_found_servers_are_judged_by_rfc_7817() -> None:
    """The source domain always counts; the SRV target only when the SRV answer was DNSSEC-validated."""

    def judged(names: tuple[str, ...], authenticated: bool) -> dict[str, Severity]:
        srv = srv_record(
            "example.test", "_imaps._tcp", "imap.host.test", 993, Service.IMAPS, authenticated=authenticated
        )
        d = domain("example.test", MX, records=(srv,))
        h = session("imap.host.test", Service.IMAPS, origin="srv", tls_facts=tls("imap.host.test", cert(*names)))
        return tls_findings(*findings(dns=(d,), handshakes=(h,)))

    assert judged(("example.test",), authenticated=False) == {}
    assert judged(("imap.host.test",), authenticated=False) == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}
    assert judged(("imap.host.test",), authenticated=True) == {}
    assert judged(("other.test",), authenticated=True) == {"TLS-HOSTNAME-MISMATCH": Severity.HIGH}


def test_the_evidence_says_whether_dane_and_mta_sts_were_looked_up() -> None:
    without_dns = [
        f for f in findings(handshakes=(session(MX, tls_facts=tls(MX, WRONG)),)) if f.code == "TLS-HOSTNAME-MISMATCH"
    ]
    assert "DANE and MTA-STS were not looked up" in without_dns[0].evidence
    with_dns = [
        f for f in findings(dns=(domain("example.test", MX),), handshakes=(session(MX, tls_facts=tls(MX, WRONG)),))
        if f.code == "TLS-HOSTNAME-MISMATCH"
    ]  # fmt: skip
    assert "no DANE or MTA-STS policy covers this host" in with_dns[0].evidence


def test_legacy_versions_not_concluded_are_a_note_never_a_pass_or_a_fault() -> None:
    from dataclasses import replace

    good = cert(MX, key="served")
    untested = replace(tls(MX, good), legacy_unknown=("TLSv1.0", "TLSv1.1"))
    [note] = [f for f in findings(handshakes=(session(MX, tls_facts=untested),)) if f.code.startswith("TLS-LEGACY")]
    assert (note.code, note.severity, note.evidence) == (
        "TLS-LEGACY-NOT-JUDGED", Severity.INFO, "no conclusion for TLSv1.0, TLSv1.1"
    )  # fmt: skip
    accepted = replace(tls(MX, good, legacy=("TLSv1.0",)), legacy_unknown=("TLSv1.1",))
    codes = {f.code for f in findings(handshakes=(session(MX, tls_facts=accepted),))}
    assert "TLS-LEGACY-VERSION" in codes and "TLS-LEGACY-NOT-JUDGED" not in codes  # one accepted is the news


def test_legacy_versions_this_machine_cannot_offer_are_not_judged_and_say_why() -> None:
    """A version the local OpenSSL cannot offer was never put to the server: not judged, and the evidence
    names the machine, not the server, as the reason."""
    from dataclasses import replace

    good = cert(MX, key="served")
    untried = replace(tls(MX, good), legacy_unknown=("TLSv1.1",), legacy_not_offered=("TLSv1.0",))
    [note] = [f for f in findings(handshakes=(session(MX, tls_facts=untried),)) if f.code.startswith("TLS-LEGACY")]
    assert (note.code, note.severity, note.evidence) == (
        "TLS-LEGACY-NOT-JUDGED", Severity.INFO,
        "no conclusion for TLSv1.1; not tried: this machine's OpenSSL cannot offer TLSv1.0",
    )  # fmt: skip


def test_legacy_versions_are_low_on_port_25_and_medium_where_clients_log_in() -> None:
    """Port 25's TLS is opportunistic (Postfix's default still accepts TLS 1.0/1.1, and refusing them would turn
    an old sender's TLS into plaintext): a phase-out, low. Where clients send passwords it stays medium."""
    old, LEGACY = tls(MX, cert(MX, key="served"), legacy=("TLSv1.0", "TLSv1.1")), "TLS-LEGACY-VERSION"
    on = {
        service: [f for f in findings(handshakes=(session(MX, service, tls_facts=old),)) if f.code == LEGACY]
        for service in (Service.SMTP, Service.SUBMISSION, Service.IMAPS)
    }
    [relay], [submission], [imaps] = on[Service.SMTP], on[Service.SUBMISSION], on[Service.IMAPS]
    assert (relay.severity, relay.evidence) == (Severity.LOW, "accepted: TLSv1.0, TLSv1.1")
    assert "port 25" in relay.title and "plaintext" in relay.fix
    assert submission.severity is imaps.severity is Severity.MEDIUM and "port 25" not in submission.title
