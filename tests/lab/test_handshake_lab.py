"""The handshake stage against real Postfix and Dovecot configured two ways (issue 5): the well-configured
mx1.lab.test and the misconfigured bad.lab.test (tests/lab/labnet.py says what is wrong with it). Every run
is the real CLI in the lab's client namespace; the expectations come from the servers' configurations and,
where it matters, from the servers' own logs or an independent client (tests/lab/netcheck.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from labnet import Lab

Report = dict[str, Any]
Handshake = dict[str, Any]
RELAY_DOMAIN = "relay.example.test"  # a foreign domain; the lab's relay delivers to nowhere anyway
# Every code the misconfigured host earns; the well-configured one must earn none of them.
BAD_CODES = {
    "SMTP-NO-STARTTLS", "SMTP-VRFY-ENABLED", "SMTP-OPEN-RELAY", "AUTH-BEFORE-TLS", "SUBMISSION-TLS-NOT-REQUIRED",
    "TLS-CERT-EXPIRED", "TLS-CERT-SELF-SIGNED", "TLS-HOSTNAME-MISMATCH", "IMAP-PLAINTEXT-LOGIN",
    "POP3-PLAINTEXT-LOGIN", "TLS-CERT-UNTRUSTED",
}
CERT_CODES = {"TLS-CERT-EXPIRED", "TLS-CERT-SELF-SIGNED", "TLS-HOSTNAME-MISMATCH"}


def run_json(lab: Lab, *args: str) -> tuple[int, Report]:
    done = lab.mailprobe(*args, "--json", timeout=60)
    assert done.stdout, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def facts(h: Handshake) -> dict[str, str]:
    """The replies the SMTP steps recorded, by name ("vrfy", "mail_before_tls", "relay_test": the RCPT)."""
    smtp = h.get("smtp") or {}
    named = {"vrfy": smtp.get("vrfy"), "expn": smtp.get("expn"), "mail_before_tls": smtp.get("mail_before_tls"),
             "relay_test": smtp.get("relay_rcpt")}  # fmt: skip
    return {key: reply["line"] for key, reply in named.items() if reply}


def caps(h: Handshake, when: str) -> dict[str, Any]:
    """Capability keyword -> its entry, before or after TLS."""
    return {c["keyword"]: c for c in h[f"capabilities_{when}"]}


def by_port(report: Report, address: str) -> dict[int, Handshake]:
    return {h["target"]["port"]: h for h in report["handshakes"] if h["target"]["address"] == address}


def findings_at(report: Report, address: str, port: int) -> dict[str, dict[str, Any]]:
    """Findings seen at one address and port, by code (places: `host [addr]:port/svc` or `addr:port/svc`)."""
    found = {}
    for f in report["findings"]:
        for place in f["places"]:
            if f"[{address}]:{port}" in place or place.startswith(f"{address}:{port}"):
                found[f["code"]] = f
    return found


def client_lines(h: Handshake) -> list[str]:
    return [e["data"]["text"] for e in h["transcript"] if e["direction"] == "C"]


@pytest.fixture(scope="module")
def bad(lab: Lab) -> tuple[int, Report]:
    """All seven services of bad.lab.test on both families, by name, with every opt-in check."""
    return run_json(lab, "handshake", "bad.lab.test", "--resolver", lab.dns4, "--ca-file", lab.ca_file,
                    "--legacy-tls", "--relay-test", RELAY_DOMAIN, "--transcript")


@pytest.fixture(scope="module")
def good(lab: Lab) -> tuple[int, Report]:
    """The same run against mx1.lab.test, failing on high."""
    return run_json(lab, "handshake", "mx1.lab.test", "--resolver", lab.dns4, "--ca-file", lab.ca_file,
                    "--legacy-tls", "--relay-test", RELAY_DOMAIN, "--transcript", "--fail-on", "high")


@pytest.fixture(scope="module")
def bad_audit(lab: Lab) -> tuple[int, Report]:
    return run_json(lab, "audit", "badmail.test", "--resolver", lab.dns4, "--allow-nonpublic",
                    "--ca-file", lab.ca_file)


# ---- the misconfigured host ---------------------------------------------------------------------------------


def test_bad_host_every_service_answers_and_the_run_fails(bad: tuple[int, Report], lab: Lab) -> None:
    code, report = bad
    assert code == 1  # findings at or above high (the default --fail-on)
    for address in (lab.bad4, lab.bad6):
        hs = by_port(report, address)
        assert set(hs) == {25, 587, 465, 110, 995, 143, 993}, address
        for port, h in hs.items():
            assert h["status"] == "success", (address, port, h["reason"])
            assert h["target"]["host"] == "bad.lab.test"
        assert hs[25]["banner"].startswith("bad.lab.test ESMTP")
        assert "Dovecot" in hs[143]["banner"] and "Dovecot" in hs[110]["banner"]


def test_bad_port_25_has_no_starttls(bad: tuple[int, Report], lab: Lab) -> None:
    _, report = bad
    for address in (lab.bad4, lab.bad6):
        smtp = by_port(report, address)[25]
        assert smtp["starttls"] == "not-offered" and smtp["tls"] is None
        assert "STARTTLS" not in caps(smtp, "before") and smtp["capabilities_after"] == []
        assert "SMTP-NO-STARTTLS" in findings_at(report, address, 25)


def test_bad_port_25_is_an_open_relay_found_only_when_asked(bad: tuple[int, Report], lab: Lab) -> None:
    _, report = bad
    for address in (lab.bad4, lab.bad6):
        smtp = by_port(report, address)[25]
        assert facts(smtp)["relay_test"].startswith("250")
        relay = findings_at(report, address, 25)["SMTP-OPEN-RELAY"]
        assert relay["severity"] == "critical"
        assert any(f"RCPT TO:<mailprobe-relay-test@{RELAY_DOMAIN}>" in line for line in client_lines(smtp))
    _, plain = run_json(lab, "handshake", f"{lab.bad4}:25")
    (smtp,) = plain["handshakes"]
    assert "relay_test" not in facts(smtp)
    assert "SMTP-OPEN-RELAY" not in {f["code"] for f in plain["findings"]}


def test_the_relay_test_never_sends_a_message(bad: tuple[int, Report], lab: Lab) -> None:
    _, report = bad
    for h in report["handshakes"]:
        assert h["transcript"], h["target"]
        for line in client_lines(h):
            assert not line.upper().startswith(("DATA", "BDAT")), (h["target"], line)
    # Postfix's own account: every session on 25 ended without DATA/BDAT and nothing reached the queue
    # manager or a delivery agent.
    log = lab.log_tail("postfix-bad", size=200_000)
    sessions = [line for line in log.splitlines() if "postfix-bad/smtpd" in line and "disconnect from" in line]
    assert sessions, log
    assert any(" rcpt=1 " in line for line in sessions), sessions  # the relay test did reach RCPT
    assert not [line for line in sessions if " data=" in line or " bdat=" in line]
    assert not [line for line in log.splitlines() if "/qmgr[" in line or " status=" in line]


def test_bad_port_25_has_vrfy_on(bad: tuple[int, Report], lab: Lab) -> None:
    _, report = bad
    smtp = by_port(report, lab.bad4)[25]
    assert "VRFY" in caps(smtp, "before") and facts(smtp)["vrfy"].startswith("252")
    assert "SMTP-VRFY-ENABLED" in findings_at(report, lab.bad4, 25)


def test_bad_submission_offers_auth_and_takes_mail_before_tls(bad: tuple[int, Report], lab: Lab) -> None:
    _, report = bad
    for address in (lab.bad4, lab.bad6):
        sub = by_port(report, address)[587]
        assert {"STARTTLS", "AUTH"} <= set(caps(sub, "before"))
        assert sub["auth_before_tls"] == ["PLAIN", "LOGIN"] and sub["auth_after_tls"] == ["PLAIN", "LOGIN"]
        assert sub["starttls"] == "ok" and "STARTTLS" not in caps(sub, "after")
        assert facts(sub)["mail_before_tls"].startswith("250")
        found = findings_at(report, address, 587)
        assert found["AUTH-BEFORE-TLS"]["severity"] == "high"
        assert "PLAIN" in found["AUTH-BEFORE-TLS"]["evidence"]
        assert found["SUBMISSION-TLS-NOT-REQUIRED"]["severity"] == "high"
        # 587 serves a valid lab certificate for bad.lab.test: its faults are not certificate faults.
        assert sub["tls"]["verified"] and sub["tls"]["hostname_match"]
        assert not (CERT_CODES | {"TLS-CERT-UNTRUSTED"}) & set(found)


def test_bad_smtps_certificate_is_expired_self_signed_and_for_another_name(
    bad: tuple[int, Report], lab: Lab
) -> None:
    _, report = bad
    assert lab.pki is not None
    served = x509.load_pem_x509_certificate(Path(lab.pki.certs["wrong.example.test"].cert_file).read_bytes())
    for address in (lab.bad4, lab.bad6):
        smtps = by_port(report, address)[465]
        tls = smtps["tls"]
        (leaf,) = tls["chain"]
        # The probe still records what was served, although nothing about it can be trusted.
        assert smtps["status"] == "success" and "AUTH" in caps(smtps, "after")
        assert "CN=wrong.example.test" in leaf["subject"] and leaf["san"] == ["DNS:wrong.example.test"]
        assert leaf["subject"] == leaf["issuer"] and leaf["self_signed"] is True
        assert leaf["not_after"] == served.not_valid_after_utc.isoformat()
        assert leaf["days_left"] < 0
        assert leaf["fingerprint_sha256"] == lab.pki.certs["wrong.example.test"].cert_sha256
        assert tls["verified"] is False and tls["hostname"] == "bad.lab.test" and tls["hostname_match"] is False
        found = findings_at(report, address, 465)
        assert set(found) >= CERT_CODES, sorted(found)
        assert "wrong.example.test" in found["TLS-HOSTNAME-MISMATCH"]["evidence"]


def test_bad_certificate_faults_are_465s_alone(bad: tuple[int, Report], lab: Lab) -> None:
    _, report = bad
    for address in (lab.bad4, lab.bad6):
        for port in (587, 995, 993, 110, 143):
            assert not (CERT_CODES | {"TLS-CERT-UNTRUSTED"}) & set(findings_at(report, address, port)), port


def test_bad_dovecot_allows_logins_in_clear(bad: tuple[int, Report], lab: Lab) -> None:
    _, report = bad
    for address in (lab.bad4, lab.bad6):
        hs = by_port(report, address)
        imap, pop3 = hs[143], hs[110]
        before = caps(imap, "before")
        assert "LOGINDISABLED" not in before and {"STARTTLS", "AUTH=PLAIN"} <= set(before)
        assert imap["plaintext_login_before_tls"] is True
        assert "IMAP-PLAINTEXT-LOGIN" in findings_at(report, address, 143)
        assert {"STLS", "USER"} <= set(caps(pop3, "before")) and pop3["plaintext_login_before_tls"] is True
        assert "USER" in findings_at(report, address, 110)["POP3-PLAINTEXT-LOGIN"]["evidence"]
        assert findings_at(report, address, 143)["IMAP-PLAINTEXT-LOGIN"]["severity"] == "high"


# ---- the well-configured host -------------------------------------------------------------------------------


def test_good_host_has_none_of_the_bad_codes_and_passes(good: tuple[int, Report], lab: Lab) -> None:
    code, report = good
    assert len(report["handshakes"]) == 14
    assert all(h["status"] == "success" for h in report["handshakes"])
    assert not BAD_CODES & {f["code"] for f in report["findings"]}, report["findings"]
    assert not [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert code == 0
    smtp = by_port(report, lab.mail4)[25]
    assert facts(smtp)["vrfy"].startswith("502")  # disable_vrfy_command = yes
    assert facts(smtp)["relay_test"].startswith("554")  # Relay access denied


# ---- capabilities as the servers send them ------------------------------------------------------------------


def test_capabilities_before_and_after_tls_on_both_hosts(
    good: tuple[int, Report], bad: tuple[int, Report], lab: Lab
) -> None:
    mx1, bad_hs = by_port(good[1], lab.mail6), by_port(bad[1], lab.bad6)
    # SMTP on 25: mx1 offers STARTTLS and never AUTH; bad offers no TLS at all but does list VRFY.
    assert "STARTTLS" in caps(mx1[25], "before") and "VRFY" not in caps(mx1[25], "before")
    assert not {"STARTTLS", "AUTH"} & set(caps(mx1[25], "after"))
    assert "VRFY" in caps(bad_hs[25], "before") and "AUTH" not in caps(bad_hs[25], "before")
    # Submission: AUTH only after TLS on mx1, before and after on bad.
    assert "AUTH" not in caps(mx1[587], "before") and caps(mx1[587], "after")["AUTH"]["params"] == ["PLAIN", "LOGIN"]
    assert mx1[587]["auth_before_tls"] == [] and facts(mx1[587])["mail_before_tls"].startswith("530")
    assert caps(bad_hs[587], "before")["AUTH"]["raw"] == "AUTH PLAIN LOGIN"
    # 465 is TLS from the start: everything is "after".
    for h in (mx1[465], bad_hs[465]):
        assert h["capabilities_before"] == [] and "AUTH" in caps(h, "after") and h["starttls"] == "not-applicable"
    # IMAP: LOGINDISABLED before TLS on mx1 only; after TLS both offer AUTH=PLAIN and no STARTTLS.
    assert {"LOGINDISABLED", "STARTTLS"} <= set(caps(mx1[143], "before"))
    assert "AUTH=PLAIN" not in caps(mx1[143], "before")
    for h in (mx1[143], bad_hs[143]):
        after = caps(h, "after")
        assert "AUTH=PLAIN" in after and not {"STARTTLS", "LOGINDISABLED"} & set(after)
    # POP3: USER only after STLS on mx1, before and after on bad.
    assert "STLS" in caps(mx1[110], "before") and "USER" not in caps(mx1[110], "before")
    assert "USER" in caps(mx1[110], "after") and "USER" in caps(bad_hs[110], "after")


def test_smtp_capabilities_are_exactly_what_postfix_sent(
    good: tuple[int, Report], bad: tuple[int, Report], lab: Lab
) -> None:
    """mailprobe's EHLO lists, line by line, against an independent client's (netcheck.py) raw lines."""
    def job(address: str, port: int, sni: str, starttls: bool) -> dict[str, object]:
        return {"op": "tls", "host": address, "port": port, "sni": sni, "ca": lab.ca_file, "protocol": "smtp",
                "starttls": starttls}

    cases = [(good, lab.mail4, 587, "mx1.lab.test", True), (bad, lab.bad4, 587, "bad.lab.test", True),
             (good, lab.mail4, 25, "mx1.lab.test", True)]
    results = lab.netcheck([job(address, port, sni, tls) for _, address, port, sni, tls in cases])
    for (run, address, port, _, _), seen in zip(cases, results, strict=True):
        assert seen["outcome"] == "ok", seen
        h = by_port(run[1], address)[port]
        plain, tls = seen["capabilities_plain"], seen["capabilities_tls"]
        assert isinstance(plain, list) and isinstance(tls, list)
        # Drop the reply code and the first line (the server's name) as EHLO parsing does.
        assert [c["raw"] for c in h["capabilities_before"]] == [line[4:] for line in plain[1:]]
        assert [c["raw"] for c in h["capabilities_after"]] == [line[4:] for line in tls[1:]]


# ---- the whole pipeline and the table transcript ------------------------------------------------------------


def test_audit_of_the_bad_domain(bad_audit: tuple[int, Report], lab: Lab) -> None:
    code, report = bad_audit
    assert code == 1
    (domain,) = report["dns"]
    assert domain["status"] == "found"
    assert [(m["preference"], m["name"]) for m in domain["mx"]] == [(10, "bad.lab.test")]
    assert set(domain["mx"][0]["addresses"]) == {lab.bad4, lab.bad6}
    assert dict(map(tuple, domain["mx"][0]["ptr"])) == {lab.bad4: "bad.lab.test", lab.bad6: "bad.lab.test"}
    for address in (lab.bad4, lab.bad6):
        assert {"SMTP-NO-STARTTLS"} <= set(findings_at(report, address, 25))
        assert "SMTP-OPEN-RELAY" not in findings_at(report, address, 25)  # no --relay-test: not tried
        assert {"AUTH-BEFORE-TLS", "SUBMISSION-TLS-NOT-REQUIRED"} <= set(findings_at(report, address, 587))
        # 465 found through the MX: its expiry and self-signature count; its name is not judged against the MX.
        assert set(findings_at(report, address, 465)) >= {"TLS-CERT-EXPIRED", "TLS-CERT-SELF-SIGNED",
                                                           "TLS-NAME-NOT-JUDGED"}  # fmt: skip
        assert "IMAP-PLAINTEXT-LOGIN" in findings_at(report, address, 143)
        assert "POP3-PLAINTEXT-LOGIN" in findings_at(report, address, 110)
    assert not [h for h in report["handshakes"] if facts(h).get("relay_test")]


def test_transcript_table_of_bad_port_25(lab: Lab) -> None:
    done = lab.mailprobe("handshake", f"{lab.bad4}:25", "--transcript", "--relay-test", RELAY_DOMAIN)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "\x1b" not in out  # no raw escape bytes, from the server or from colour
    lines = [line.strip() for line in out.splitlines()]
    assert any(line.endswith("S: 220 bad.lab.test ESMTP") for line in lines), out
    assert any("C: EHLO mailprobe.invalid" in line for line in lines), out
    assert any(line.endswith("S: 252 2.0.0 postmaster") for line in lines), out
    assert any(f"C: RCPT TO:<mailprobe-relay-test@{RELAY_DOMAIN}>" in line for line in lines), out
    assert not any(line.split("C: ", 1)[-1].startswith(("DATA", "BDAT")) for line in lines if "C: " in line)
    assert "SMTP-OPEN-RELAY" in out and "SMTP-NO-STARTTLS" in out
