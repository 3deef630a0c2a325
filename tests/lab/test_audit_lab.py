"""The whole pipeline against real Postfix, Dovecot and NSD, run from the lab's client namespace."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from labnet import Lab

PORTS = {25, 587, 465, 110, 995, 143, 993}


def run_json(lab: Lab, *args: str) -> tuple[int, dict[str, Any]]:
    done = lab.mailprobe(*args, "--json", timeout=120)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def audit(lab: Lab) -> dict[str, Any]:
    _, report = run_json(
        lab,
        "audit",
        "lab.test",
        "--resolver",
        lab.dns4,
        "--ca-file",
        lab.ca_file,
        "--allow-nonpublic",
        "--fail-on",
        "never",
    )
    return report


def by_port(report: dict[str, Any], address: str) -> dict[int, dict[str, Any]]:
    return {h["target"]["port"]: h for h in report["handshakes"] if h["target"]["address"] == address}


def caps(h: dict[str, Any], when: str) -> set[str]:
    return {c["keyword"] for c in h[f"capabilities_{when}"]}


def test_mx_and_addresses(audit: dict[str, Any], lab: Lab) -> None:
    (domain,) = audit["dns"]
    assert domain["status"] == "found"
    assert [(m["preference"], m["name"]) for m in domain["mx"]] == [(10, "mx1.lab.test")]
    assert set(domain["mx"][0]["addresses"]) == {lab.mail4, lab.mail6}


def test_seven_ports_open_on_both_families(audit: dict[str, Any], lab: Lab) -> None:
    for address in (lab.mail4, lab.mail6):
        states = {p["port"]: p["state"] for p in audit["ports"] if p["address"] == address}
        assert states == {port: "open" for port in PORTS}


def test_postfix_banner_and_capabilities_before_and_after_tls(audit: dict[str, Any], lab: Lab) -> None:
    hs = by_port(audit, lab.mail4)
    smtp = hs[25]
    assert smtp["status"] == "success" and smtp["banner"].startswith("mx1.lab.test ESMTP")
    assert {"STARTTLS", "PIPELINING", "8BITMIME", "SIZE", "CHUNKING"} <= caps(smtp, "before")
    assert "STARTTLS" not in caps(smtp, "after") and smtp["starttls"] == "ok"
    submission = hs[587]
    assert submission["auth_before_tls"] == [] and {"PLAIN", "LOGIN"} <= set(submission["auth_after_tls"])
    assert submission["smtp"]["mail_before_tls"]["code"] == "530"  # Postfix on 587 requires STARTTLS before MAIL
    assert hs[465]["starttls"] == "not-applicable" and hs[465]["tls"]["verified"]


def test_dovecot_login_only_after_tls(audit: dict[str, Any], lab: Lab) -> None:
    hs = by_port(audit, lab.mail6)
    imap, pop3 = hs[143], hs[110]
    assert imap["greeting_code"] == "* OK" and "Dovecot" in imap["banner"]
    assert "LOGINDISABLED" in caps(imap, "before") and "AUTH=PLAIN" in caps(imap, "after")
    assert not imap["plaintext_login_before_tls"]
    assert "STLS" in caps(pop3, "before") and "USER" not in caps(pop3, "before") and "USER" in caps(pop3, "after")
    assert hs[993]["status"] == hs[995]["status"] == "success"


def test_certificate_facts(audit: dict[str, Any], lab: Lab) -> None:
    for h in audit["handshakes"]:
        tls = h["tls"]
        assert tls is not None, h["target"]
        assert tls["version"] in ("TLSv1.2", "TLSv1.3")
        leaf = tls["chain"][0]
        assert "DNS:mx1.lab.test" in leaf["san"] and "mailprobe lab CA" in leaf["issuer"]
        assert tls["verified"] and tls["hostname_match"] and leaf["days_left"] > 21


def test_findings_name_what_debian_defaults_get_wrong(audit: dict[str, Any]) -> None:
    codes = {f["code"] for f in audit["findings"]}
    # Postfix's Debian defaults still accept TLS 1.0/1.1 (separate handshakes prove it); nothing high.
    assert "TLS-LEGACY-VERSION" in codes
    assert not [f for f in audit["findings"] if f["severity"] in ("high", "critical")]


def test_without_ca_file_the_chain_is_untrusted_and_said_so(lab: Lab) -> None:
    code, report = run_json(lab, "handshake", f"{lab.mail4}:465", "--fail-on", "high")
    (h,) = report["handshakes"]
    assert h["tls"]["verified"] is False and h["tls"]["verify_error"]
    codes = {f["code"] for f in report["findings"]}
    assert "TLS-CERT-UNTRUSTED" in codes
    assert "TLS-NAME-NOT-JUDGED" in codes and "TLS-HOSTNAME-MISMATCH" not in codes  # probed by address
    assert code == 1


def test_servername_names_what_clients_connect_to(lab: Lab) -> None:
    args = ("handshake", f"{lab.mail4}:465", "--ca-file", lab.ca_file, "--fail-on", "high")
    _, right = run_json(lab, *args, "--servername", "mx1.lab.test")
    (h,) = right["handshakes"]
    assert h["tls"]["hostname"] == "mx1.lab.test" and h["tls"]["hostname_match"] is True
    assert not [f for f in right["findings"] if f["code"].startswith("TLS-")]
    code, wrong = run_json(lab, *args, "--servername", "mail.elsewhere.test")
    assert [f["severity"] for f in wrong["findings"] if f["code"] == "TLS-HOSTNAME-MISMATCH"] == ["high"]
    assert code == 1


def test_every_format_from_the_real_servers(lab: Lab, tmp_path: Path) -> None:
    base = (
        "audit",
        "mx1.lab.test",
        "--resolver",
        lab.dns4,
        "--ca-file",
        lab.ca_file,
        "-4",
        "--allow-nonpublic",
        "--fail-on",
        "never",
    )
    outputs = {
        fmt: lab.mailprobe(*base, "--format", fmt, timeout=120)
        for fmt in ("table", "jsonl", "junit", "markdown", "html", "nagios")
    }
    for fmt, done in outputs.items():
        assert done.returncode in (0, 1), (fmt, done.stderr)
        assert done.stdout.strip(), fmt
    assert "mx1.lab.test ESMTP" in outputs["table"].stdout
    assert outputs["nagios"].stdout.startswith("MAILPROBE ")
    junit = tmp_path / "junit.xml"
    junit.write_text(outputs["junit"].stdout)
    if shutil.which("xmllint"):
        subprocess.run(["xmllint", "--noout", str(junit)], check=True)


def test_unknown_domain_and_unresolvable_host(lab: Lab) -> None:
    done = lab.mailprobe("audit", "nosuchdomain.lab.test", "--resolver", lab.dns4, "--json", timeout=60)
    report = json.loads(done.stdout)
    assert report["dns"][0]["status"] == "nxdomain"
    assert "MX-NXDOMAIN" in {f["code"] for f in report["findings"]}
    missing = lab.mailprobe("handshake", "nohost.lab.test", "--resolver", lab.dns4, timeout=60)
    assert missing.returncode == 2
    assert "no address" in missing.stderr and "Traceback" not in missing.stderr


def test_port25_blocked_on_the_way_and_a_profile_that_expects_it(lab: Lab, tmp_path: Path) -> None:
    lab.set_policy("drop-25")
    args = (
        "audit",
        "lab.test",
        "--resolver",
        lab.dns4,
        "--ca-file",
        lab.ca_file,
        "--allow-nonpublic",
        "--timeout",
        "1",
    )
    code, report = run_json(lab, *args)
    # The router drops 25 while the MX's other ports answer: this network's pattern, not the MX's fault.
    codes = {f["code"]: f for f in report["findings"]}
    assert "PORT25-MX-NOT-OPEN" not in codes
    untested = codes["PORT25-NOT-TESTABLE-HERE"]
    assert untested["severity"] == "low" and len(untested["places"]) >= 2  # every MX address: one finding
    assert code == 0
    assert {p["state"] for p in report["ports"] if p["port"] == 25} == {"filtered"}

    profile = tmp_path / "ci-runner.toml"
    profile.write_text('name = "ci-runner"\n[run]\nfail_on = "high"\n[expect]\nexpect_blocked = [25]\n')
    code, report = run_json(lab, *args, "--profile", str(profile))
    codes = {f["code"] for f in report["findings"]}
    assert "PORT25-MX-NOT-OPEN" not in codes and "PROFILE-EXPECTED-BLOCKED" in codes
    assert code == 0, report["findings"]
