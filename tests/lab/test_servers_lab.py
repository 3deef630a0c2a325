"""The servers run from unpacked Debian packages (tests/lab/labunpacked.py): Exim, Courier IMAP/POP3 and
OpenSMTPD, and the hosted domains whose names point at them. mailprobe runs in the client namespace; what it
records is checked against the servers' configurations, their own logs and an independent client
(tests/lab/netcheck.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from labnet import Lab
from labunpacked import UNPACKED_ROOT

Handshake = dict[str, Any]
UNPACKED_DAEMONS = {"exim", "courier-imap", "courier-imaps", "courier-pop3", "courier-pop3s", "opensmtpd"}
EXIM_GREETING = re.compile(r"^exim\.lab\.test ESMTP Exim 4\.\d+ \w{3}, [ \d]\d \w{3} \d{4} [\d:]{8} [+-]\d{4}$")
COURIER_IMAP_CAPS = [
    "IMAP4REV1",
    "UIDPLUS",
    "CHILDREN",
    "NAMESPACE",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "SORT",
    "QUOTA",
    "IDLE",
]


def handshakes(lab: Lab, *targets: str) -> dict[tuple[str, int], Handshake]:
    """`mailprobe handshake --json` against targets by name, both address families; by (address, port)."""
    done = lab.mailprobe(
        "handshake", *targets, "--resolver", lab.dns4, "--ca-file", lab.ca_file, "--json", "--transcript", timeout=90
    )
    assert done.stdout and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    return {(h["target"]["address"], h["target"]["port"]): h for h in report["handshakes"]}


def keywords(h: Handshake, when: str) -> list[str]:
    return [c["keyword"] for c in h[f"capabilities_{when}"]]


def caps(h: Handshake, when: str) -> dict[str, Handshake]:
    return {c["keyword"]: c for c in h[f"capabilities_{when}"]}


def assert_verified_tls(h: Handshake, name: str) -> None:
    tls = h["tls"]
    assert tls["version"] in ("TLSv1.2", "TLSv1.3"), tls
    assert tls["verified"] is True and tls["verify_error"] in (None, ""), tls
    assert tls["hostname"] == name and tls["hostname_match"] is True, tls
    assert tls["chain"][0]["san"] == [f"DNS:{name}"]


@pytest.fixture(scope="module")
def exim(lab: Lab) -> dict[tuple[str, int], Handshake]:
    return handshakes(
        lab, "exim.lab.test:25", "exim.lab.test:587", "exim.lab.test:465", "--relay-test", "relay.example.test"
    )


@pytest.fixture(scope="module")
def courier(lab: Lab) -> dict[tuple[str, int], Handshake]:
    return handshakes(lab, *(f"courier.lab.test:{port}" for port in (143, 993, 110, 995)))


# ---- Exim -------------------------------------------------------------------------------------------------------


def test_exim_answers_every_port_on_both_families_with_verified_tls(
    exim: dict[tuple[str, int], Handshake], lab: Lab
) -> None:
    assert set(exim) == {(a, p) for a in (lab.exim4, lab.exim6) for p in (25, 587, 465)}
    for (address, port), h in exim.items():
        assert h["status"] == "success", (address, port, h["reason"])
        assert h["greeting_code"] == "220" and EXIM_GREETING.match(h["banner"]), h["banner"]
        assert_verified_tls(h, "exim.lab.test")
        assert h["starttls"] == ("not-applicable" if port == 465 else "ok"), (port, h["starttls"])
        if port != 465:
            assert h["starttls_reply"] == "220 TLS go ahead"


def test_exim_offers_starttls_and_auth_only_after_tls_on_submission(
    exim: dict[tuple[str, int], Handshake], lab: Lab
) -> None:
    for address in (lab.exim4, lab.exim6):
        smtp, submission, smtps = exim[(address, 25)], exim[(address, 587)], exim[(address, 465)]
        # Exim 4.96's EHLO list as it comes, STARTTLS in place before TLS and gone after it.
        listed = ["SIZE", "8BITMIME", "PIPELINING", "PIPECONNECT", "CHUNKING", "STARTTLS", "SMTPUTF8", "HELP"]
        assert keywords(smtp, "before") == keywords(submission, "before") == listed
        assert caps(smtp, "before")["SIZE"]["params"] == ["52428800"]
        # 25: no AUTH at all, before or after TLS.
        assert "AUTH" not in keywords(smtp, "after") and "STARTTLS" not in keywords(smtp, "after")
        # 587: AUTH PLAIN only once TLS is up; MAIL refused before it.
        after = caps(submission, "after")
        assert after["AUTH"]["params"] == ["PLAIN"] and "STARTTLS" not in after
        assert submission["auth_before_tls"] == [] and submission["auth_after_tls"] == ["PLAIN"]
        assert submission["smtp"]["mail_before_tls"]["line"] == "550 5.7.0 STARTTLS required"
        # 465: TLS from the first byte, AUTH offered at once.
        assert smtps["capabilities_before"] == [] and caps(smtps, "after")["AUTH"]["params"] == ["PLAIN"]


def test_exim_relays_nothing_and_delivers_nothing(exim: dict[tuple[str, int], Handshake], lab: Lab) -> None:
    for address in (lab.exim4, lab.exim6):
        assert exim[(address, 25)]["smtp"]["relay_rcpt"]["line"] == "550 5.7.1 relay not permitted"
    log = lab.log_tail("exim", size=200_000)
    assert "rejected RCPT <mailprobe-relay-test@relay.example.test>: 5.7.1 relay not permitted" in log, log
    assert " => " not in log and " -> " not in log, log  # Exim's marks for a delivery


def test_exim_runs_as_the_process_the_lab_started(lab: Lab) -> None:
    """-bdf keeps the daemon in the foreground: the PID Exim writes is the one the lab stops."""
    assert lab.tmpdir is not None
    (pid,) = [proc.pid for daemon, proc in lab._daemons if daemon.name == "exim"]
    assert int((lab.tmpdir / "exim" / "exim.pid").read_text().split()[0]) == pid
    assert os.readlink(f"/proc/{pid}/exe") == str(UNPACKED_ROOT / "usr/sbin/exim4")


# ---- Courier ----------------------------------------------------------------------------------------------------


def test_courier_answers_every_port_on_both_families_with_verified_tls(
    courier: dict[tuple[str, int], Handshake], lab: Lab
) -> None:
    assert set(courier) == {(a, p) for a in (lab.courier4, lab.courier6) for p in (143, 993, 110, 995)}
    for (address, port), h in courier.items():
        assert h["status"] == "success", (address, port, h["reason"])
        assert_verified_tls(h, "courier.lab.test")
        if port in (143, 993):
            assert "Courier-IMAP ready." in h["banner"], h["banner"]
        else:
            assert h["banner"] == "Hello there.", h["banner"]


def test_courier_imap_disables_login_before_tls(courier: dict[tuple[str, int], Handshake], lab: Lab) -> None:
    for address in (lab.courier4, lab.courier6):
        imap, imaps = courier[(address, 143)], courier[(address, 993)]
        before, after = keywords(imap, "before"), keywords(imap, "after")
        assert before == [*COURIER_IMAP_CAPS, "STARTTLS", "LOGINDISABLED", "ENABLE", "UTF8=ACCEPT"]
        assert after == [*COURIER_IMAP_CAPS, "AUTH=PLAIN", "ENABLE", "UTF8=ACCEPT"]
        assert imap["starttls_reply"].endswith("OK Begin SSL/TLS negotiation now.")
        assert imap["plaintext_login_before_tls"] is False and imap["auth_after_tls"] == ["PLAIN"]
        assert "AUTH=PLAIN" in keywords(imaps, "after") and "LOGINDISABLED" not in keywords(imaps, "after")


def test_courier_pop3_lists_user_before_tls_but_refuses_it(courier: dict[tuple[str, int], Handshake], lab: Lab) -> None:
    """Courier's CAPA names USER before STLS although POP3_TLS_REQUIRED makes it refuse USER until TLS: the
    listing alone does not tell whether a plaintext login works (the dialogue below does)."""
    for address in (lab.courier4, lab.courier6):
        pop3, pop3s = courier[(address, 110)], courier[(address, 995)]
        assert keywords(pop3, "before") == [
            "STLS",
            "TOP",
            "USER",
            "LOGIN-DELAY",
            "PIPELINING",
            "UIDL",
            "UTF8",
            "IMPLEMENTATION",
        ]
        assert keywords(pop3, "after")[0] == "SASL" and caps(pop3, "after")["SASL"]["params"] == ["LOGIN", "PLAIN"]
        assert pop3["auth_before_tls"] == [] and pop3["auth_after_tls"] == ["LOGIN", "PLAIN"]
        assert pop3["starttls_reply"] == "+OK Begin SSL/TLS negotiation now."
        # mailprobe asks (USER with a name that exists nowhere, on a side session, no password) and believes the
        # answer, not the listing: no plaintext-login finding.
        assert pop3["pop3"]["user_before_tls"] == {"code": "-ERR", "line": "-ERR TLS required to log in."}
        assert pop3["plaintext_login_before_tls"] is False
        # Courier also lists STLS inside implicit TLS on 995.
        assert {"SASL", "STLS"} <= set(keywords(pop3s, "after"))
    (pop3, imap) = lab.netcheck(
        [
            {
                "op": "dialogue",
                "host": lab.courier4,
                "port": 110,
                "smtp": False,
                "steps": [["USER probe\r\n", 1], ["AUTH PLAIN\r\n", 1], ["QUIT\r\n", 1]],
            },
            {
                "op": "dialogue",
                "host": lab.courier6,
                "port": 143,
                "smtp": False,
                "steps": [["a1 LOGIN probe secret\r\n", 1], ["a2 LOGOUT\r\n", 2]],
            },
        ]
    )
    assert pop3["replies"] == [
        ["-ERR TLS required to log in."],
        ["-ERR TLS required to log in."],
        ["+OK Better luck next time."],
    ], pop3
    assert imap["replies"][0] == ["a1 NO STARTTLS required"], imap


# ---- OpenSMTPD --------------------------------------------------------------------------------------------------


def test_opensmtpd_offers_tls_and_fails_every_handshake(lab: Lab) -> None:
    """Debian 12's OpenSMTPD (a packaging bug): STARTTLS is accepted, then the server aborts the handshake."""
    jobs = [
        {
            "op": "tls",
            "host": address,
            "port": port,
            "sni": "opensmtpd.lab.test",
            "ca": lab.ca_file,
            "protocol": "smtp",
            "starttls": port != 465,
        }
        for address in (lab.opensmtpd4, lab.opensmtpd6)
        for port in (25, 587, 465)
    ]
    for job, result in zip(jobs, lab.netcheck(jobs), strict=True):
        assert result["outcome"] == "error" and "ALERT_INTERNAL_ERROR" in str(result["error"]), (job, result)
        if job["starttls"]:
            assert result["banner"] == "220 opensmtpd.lab.test ESMTP OpenSMTPD"
            assert "250-STARTTLS" in result["capabilities_plain"], result
            assert result["starttls_reply"] == "220 2.0.0 Ready to start TLS"
    assert "EVP lib" in lab.log_tail("opensmtpd", size=50_000)
    found = handshakes(lab, "opensmtpd.lab.test:25")
    for address in (lab.opensmtpd4, lab.opensmtpd6):
        h = found[(address, 25)]
        assert h["status"] != "success" and h["tls"] is None and h["tls_error"], h
        assert "STARTTLS" in keywords(h, "before") and h["starttls_reply"] == "220 2.0.0 Ready to start TLS"


def test_opensmtpd_refuses_every_recipient(lab: Lab) -> None:
    (result,) = lab.netcheck(
        [
            {
                "op": "dialogue",
                "host": lab.opensmtpd4,
                "port": 25,
                "steps": [
                    ["EHLO client.lab.test\r\n", 1],
                    ["MAIL FROM:<>\r\n", 1],
                    ["RCPT TO:<a@tlsbroken.test>\r\n", 1],
                    ["QUIT\r\n", 1],
                ],
            }
        ]
    )
    assert result["replies"][1] == ["250 2.0.0 Ok"], result
    assert result["replies"][2][0].startswith("550 "), result


# ---- hosted domains ---------------------------------------------------------------------------------------------


def test_hosted_domains_resolve_to_servers_that_name_themselves(lab: Lab) -> None:
    def dns(name: str, rtype: str) -> dict[str, object]:
        return {"op": "dns", "server": lab.dns4, "name": name, "type": rtype}

    answers = [
        r["answers"]
        for r in lab.netcheck(
            [
                dns("customer.test", "MX"),
                dns("mx.customer.test", "A"),
                dns("mx.customer.test", "AAAA"),
                dns("imap.customer.test", "A"),
                dns("tenant.test", "MX"),
                dns("mail.tenant.test", "AAAA"),
                dns("tlsbroken.test", "MX"),
                dns("28.113.0.203.in-addr.arpa", "PTR"),
                dns("29.113.0.203.in-addr.arpa", "PTR"),
            ]
        )
    ]
    assert answers == [
        ["10 mx.customer.test."],
        [lab.exim4],
        [lab.exim6],
        [lab.courier4],
        ["10 mail.tenant.test."],
        [lab.mail6],
        ["10 opensmtpd.lab.test."],
        ["exim.lab.test."],
        ["courier.lab.test."],
    ]
    found = handshakes(lab, "mx.customer.test:25", "imap.customer.test:993", "mail.tenant.test:587")
    for (address, port), h in found.items():
        # Healthy and trusted, but the greeting and the certificate name the provider, not the customer.
        assert h["status"] == "success" and h["tls"]["verified"] is True, (address, port, h["reason"])
        assert h["tls"]["hostname_match"] is False, (address, port)
        assert h["tls"]["hostname"] == h["target"]["host"]
    assert EXIM_GREETING.match(found[(lab.exim4, 25)]["banner"])
    assert found[(lab.exim6, 25)]["tls"]["chain"][0]["san"] == ["DNS:exim.lab.test"]
    assert found[(lab.courier4, 993)]["tls"]["chain"][0]["san"] == ["DNS:courier.lab.test"]
    assert found[(lab.mail4, 587)]["banner"] == "mx1.lab.test ESMTP"
    assert found[(lab.mail6, 587)]["tls"]["chain"][0]["san"] == ["DNS:mx1.lab.test", "DNS:mail.lab.test"]


def test_hosted_domains_are_accepted_by_their_servers(lab: Lab) -> None:
    def rcpt(address: str, domain: str) -> dict[str, object]:
        return {
            "op": "dialogue",
            "host": address,
            "port": 25,
            "steps": [
                ["EHLO client.lab.test\r\n", 1],
                [f"MAIL FROM:<>\r\nRCPT TO:<postmaster@{domain}>\r\nRSET\r\nQUIT\r\n", 4],
            ],
        }

    exim, exim_foreign, mx1, mx1_foreign = lab.netcheck(
        [
            rcpt(lab.exim4, "customer.test"),
            rcpt(lab.exim6, "relay.example.test"),
            rcpt(lab.mail6, "tenant.test"),
            rcpt(lab.mail4, "relay.example.test"),
        ]
    )
    assert exim["replies"][1][:2] == ["250 OK", "250 Accepted"], exim
    assert exim_foreign["replies"][1][1] == "550 5.7.1 relay not permitted", exim_foreign
    # mx1 takes tenant.test as its own (past the relay check) and then refuses it as it refuses lab.test:
    # every Postfix transport in the lab is the error agent.
    assert mx1["replies"][1][1].startswith(
        "550 5.1.1 <postmaster@tenant.test>: Recipient address rejected: the lab delivers no mail"
    ), mx1
    assert mx1_foreign["replies"][1][1].startswith("554 5.7.1 "), mx1_foreign  # Relay access denied


# ---- start and stop ---------------------------------------------------------------------------------------------


def _unpacked_processes(ns: str) -> dict[int, str]:
    """Processes in namespace `ns` running a program from the unpacked tree: pid -> program."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=True).stdout
    found = {}
    for pid in map(int, out.split()):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if exe.startswith(f"{UNPACKED_ROOT}/"):
            found[pid] = exe
    return found


@pytest.mark.usefixtures("lab")  # skips (or fails) as the lab does when it cannot run
def test_unpacked_daemons_stop_by_pid_and_leave_nothing_behind() -> None:
    extra = Lab.up(rtt_ms=0)
    try:
        started = {daemon.name: proc.pid for daemon, proc in extra._daemons if daemon.name in UNPACKED_DAEMONS}
        running = _unpacked_processes(extra.servers_ns)
        assert set(started) == UNPACKED_DAEMONS
        assert set(started.values()) <= set(running), (started, running)
        programs = {Path(exe).name for exe in running.values()}
        assert {"exim4", "couriertcpd", "smtpd"} <= programs, programs
        # OpenSMTPD's spool and control socket are its own: the bind mounts never reached this namespace.
        assert not Path("/run/smtpd.sock").exists() and not Path("/var/spool/smtpd").exists()
        assert extra.tmpdir is not None and (extra.tmpdir / "opensmtpd" / "run" / "smtpd.sock").exists()
    finally:
        extra.down()
    assert not UNPACKED_DAEMONS & set(extra.forced), extra.forced  # each stopped on SIGTERM, by PID
    assert not [pid for pid in running if Path(f"/proc/{pid}").exists()]


# ---- findings: what mailprobe judges from these servers ---------------------------------------------------------


def findings_of(lab: Lab, *args: str) -> tuple[int, list[dict[str, Any]]]:
    done = lab.mailprobe(*args, "--resolver", lab.dns4, "--ca-file", lab.ca_file, "--json", timeout=120)
    assert done.stdout and "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def test_healthy_exim_and_courier_raise_no_alarm(lab: Lab) -> None:
    """Only the ports each does not serve, as a note: a closed port is not a failed handshake."""
    code, found = findings_of(lab, "handshake", "exim.lab.test", "courier.lab.test", "--fail-on", "low")
    assert {(f["code"], f["severity"]) for f in found} == {("PORT-CLOSED", "info")}, found
    [closed] = found  # one problem: Exim's 110 995 143 993 and Courier's 25 587 465, on two addresses each
    assert closed["target"] == "exim.lab.test, courier.lab.test" and len(closed["places"]) == 14
    assert code == 0


def test_opensmtpd_broken_tls_is_one_finding_with_its_places(lab: Lab) -> None:
    code, found = findings_of(lab, "handshake", "opensmtpd.lab.test:25", "opensmtpd.lab.test:587",
                              "opensmtpd.lab.test:465")  # fmt: skip
    tls = [f for f in found if f["code"] == "TLS-HANDSHAKE-FAILED"]
    assert len(tls) == 1 and tls[0]["severity"] == "high", found
    assert len(tls[0]["places"]) == 6 and "INTERNAL_ERROR" in tls[0]["evidence"]
    assert code == 1


def test_hosted_domain_is_judged_in_context(lab: Lab) -> None:
    """customer.test's MX is Exim, greeting and certified as exim.lab.test; its IMAP/POP3 are announced by SRV
    at imap/pop.customer.test, served by Courier with a certificate for courier.lab.test."""
    _, found = findings_of(lab, "audit", "customer.test", "-4", "--allow-nonpublic", "--fail-on", "never")
    by_code: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        by_code.setdefault(f["code"], []).append(f)
    # Port 25: no DANE, no MTA-STS: opportunistic TLS tolerates a certificate for another name.
    [port25] = [
        f for f in by_code["TLS-HOSTNAME-MISMATCH"] if f["places"] == ["mx.customer.test [203.0.113.28]:25/smtp"]
    ]
    assert port25["severity"] == "low" and "opportunistically" in port25["evidence"]
    # Submission found through the MX: not judged against the MX name.
    assert [f["places"] for f in by_code["TLS-NAME-NOT-JUDGED"]] == [
        ["mx.customer.test [203.0.113.28]:587/submission", "mx.customer.test [203.0.113.28]:465/submissions"]
    ]
    # IMAPS/POP3S found through SRV (not DNSSEC-validated here): clients accept customer.test only.
    [srv] = [f for f in by_code["TLS-HOSTNAME-MISMATCH"] if f["severity"] == "high"]  # one certificate: one
    assert set(srv["places"]) == {
        "imap.customer.test [203.0.113.29]:993/imaps",
        "pop.customer.test [203.0.113.29]:995/pop3s",
    }
    assert "accept customer.test" in srv["evidence"]
    # The greeting names the provider: a note on port 25 only.
    [banner] = by_code["SMTP-BANNER-MISMATCH"]
    assert banner["severity"] == "info" and banner["places"] == ["mx.customer.test [203.0.113.28]:25/smtp"]
