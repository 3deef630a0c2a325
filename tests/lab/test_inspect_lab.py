"""The router's inspecting proxy (tests/lab/inspect_proxy.py) under the policies inspect-25 (as a Cisco ASA's
ESMTP inspection) and strip-starttls-25. Each dialogue is read raw in the client namespace (netcheck.py) and
compared with the same dialogue under the open policy; the servers' own logs tell what reached them."""

from __future__ import annotations

import base64
import json
import statistics
from typing import Any

import pytest
from inspect_proxy import mask_greeting, mask_starttls, strip_starttls
from labnet import Lab

Dialogue = dict[str, Any]


def dialogues(lab: Lab, policy: str, *targets: tuple[str, int]) -> list[Dialogue]:
    lab.set_policy(policy)
    results = lab.netcheck([{"op": "smtp", "host": host, "port": port} for host, port in targets])
    for target, result in zip(targets, results, strict=True):
        assert result["outcome"] == "ok", (policy, target, result)
    return results


def masked(line: str) -> str:
    return line[:4] + "*" * len(line[4:])


# ---- the rewriting, line by line (no lab needed) ---------------------------------------------------------------


def test_rewrites_keep_codes_lengths_and_reply_structure() -> None:
    greeting = [b"220-mx.example.test ESMTP\r\n", b"220 welcome\r\n"]
    assert mask_greeting(greeting) == [b"220-" + b"*" * 21 + b"\r\n", b"220 *******\r\n"]
    ehlo = [b"250-mx.example.test\r\n", b"250-PIPELINING\r\n", b"250 STARTTLS\r\n"]
    assert mask_starttls(ehlo) == [b"250-mx.example.test\r\n", b"250-PIPELINING\r\n", b"250 XXXXXXXA\r\n"]
    # Stripping the last line makes the one before it the last.
    assert strip_starttls(ehlo) == [b"250-mx.example.test\r\n", b"250 PIPELINING\r\n"]
    assert strip_starttls([b"250 OK\r\n"]) == [b"250 OK\r\n"]
    assert mask_starttls([b"550 STARTTLS\r\n"]) == [b"550 STARTTLS\r\n"]  # only a 250 reply lists extensions


# ---- inspect-25 ------------------------------------------------------------------------------------------------


def test_inspect_masks_the_greeting_and_starttls_and_refuses_starttls(lab: Lab) -> None:
    targets = [(lab.mail4, 25), (lab.mail6, 25), (lab.exim4, 25), (lab.exim6, 25)]
    plain = dialogues(lab, "open", *targets)
    inspected = dialogues(lab, "inspect-25", *targets)
    for target, before, after in zip(targets, plain, inspected, strict=True):
        assert "250-STARTTLS" in before["ehlo"] and before["starttls_reply"][0].startswith("220 "), target
        (greeting,) = after["greeting"]
        assert greeting == masked(before["greeting"][0]) and set(greeting[4:]) == {"*"}, (target, greeting)
        # Only the STARTTLS line changes (and the client address Exim echoes: the proxy's, the router's).
        expected = ["250-XXXXXXXA" if line == "250-STARTTLS" else line for line in before["ehlo"]]
        assert after["ehlo"][1:] == expected[1:], target
        assert after["starttls_reply"] == ["500 5.5.1 Command unrecognized"], target
    assert inspected[0]["greeting"] == ["220 " + "*" * len("mx1.lab.test ESMTP")]
    assert inspected[3]["ehlo"][0] == f"250-exim.lab.test Hello client.lab.test [{lab.router6}]"
    # The server never saw STARTTLS from the proxied sessions: Postfix counts every command per session.
    # (Sessions without a command, "commands=0/0", are other tests' bare connects through the proxy.)
    sessions = [line for line in lab.log_tail("postfix-mx1", size=400_000).splitlines()
                if "postfix-mx1/smtpd" in line and f"disconnect from router.lab.test[{lab.router4}]" in line
                and "commands=0/0" not in line]
    assert sessions and all("starttls=" not in line and "ehlo=1" in line for line in sessions), sessions


def test_inspect_leaves_the_other_ports_alone(lab: Lab) -> None:
    (submission,) = dialogues(lab, "inspect-25", (lab.mail4, 587))
    assert submission["greeting"] == ["220 mx1.lab.test ESMTP"] and "250-STARTTLS" in submission["ehlo"]
    assert submission["starttls_reply"] == ["220 2.0.0 Ready to start TLS"]
    (imap,) = lab.netcheck([{"op": "tls", "host": lab.courier4, "port": 143, "sni": "courier.lab.test",
                             "ca": lab.ca_file, "protocol": "imap", "starttls": True}])
    assert imap["outcome"] == "ok", imap


def test_inspect_passes_a_pipelined_message_through_untouched(lab: Lab) -> None:
    """Commands pipelined behind EHLO, and a message whose text holds a line "STARTTLS": the proxy must pass
    it as text (Exim accepts mail for customer.test, spools it and never delivers it)."""
    lab.set_policy("inspect-25")
    body = "Subject: through the proxy\r\n\r\nSTARTTLS\r\n..leading dot\r\n"
    (result,) = lab.netcheck([{"op": "dialogue", "host": lab.exim4, "port": 25, "steps": [
        ["EHLO client.lab.test\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@customer.test>\r\nDATA\r\n", 4],
        [body + ".\r\n", 1],
        ["RSET\r\nSTARTTLS\r\n", 2],  # the refusal waits for the reply the server owes before it
        ["QUIT\r\n", 1],
    ]}])
    ehlo_mail_rcpt_data, queued, reset_starttls, quit = result["replies"]
    assert "250-XXXXXXXA" in ehlo_mail_rcpt_data and ehlo_mail_rcpt_data[-3:-1] == ["250 OK", "250 Accepted"]
    assert ehlo_mail_rcpt_data[-1].startswith("354 ")
    assert queued[0].startswith("250 OK id="), result
    assert reset_starttls == ["250 Reset OK", "500 5.5.1 Command unrecognized"], result
    assert quit == ["221 exim.lab.test closing connection"], result
    assert lab.tmpdir is not None
    message_id = queued[0].removeprefix("250 OK id=")
    spooled = (lab.tmpdir / "exim" / "spool" / "input" / f"{message_id}-D").read_text()
    assert "\nSTARTTLS\n.leading dot\n" in spooled.replace("\r\n", "\n"), spooled


def test_mailprobe_records_the_masked_dialogue(lab: Lab) -> None:
    """What the tool records under the ASA-style proxy (its verdict about it is not asserted here)."""
    lab.set_policy("inspect-25")
    done = lab.mailprobe("handshake", f"{lab.mail4}:25", "--json", "--transcript")
    (h,) = json.loads(done.stdout)["handshakes"]
    received = b"".join(base64.b64decode(e["data"]["base64"]) for e in h["transcript"] if e["direction"] == "S")
    lines = received.decode().split("\r\n")
    assert lines[0] == "220 " + "*" * len("mx1.lab.test ESMTP")
    assert "250-XXXXXXXA" in lines and "250-STARTTLS" not in lines
    assert h["banner"] == "*" * len("mx1.lab.test ESMTP") and h["greeting_code"] == "220"
    assert "XXXXXXXA" in [c["keyword"] for c in h["capabilities_before"]]


# ---- strip-starttls-25 -----------------------------------------------------------------------------------------


def test_strip_removes_only_starttls(lab: Lab) -> None:
    targets = [(lab.mail6, 25), (lab.exim4, 25)]
    plain = dialogues(lab, "open", *targets)
    stripped = dialogues(lab, "strip-starttls-25", *targets)
    for target, before, after in zip(targets, plain, stripped, strict=True):
        # Untouched (Exim's greeting ends with the time, so compare what comes before it).
        assert after["greeting"][0].split(" ESMTP")[0] == before["greeting"][0].split(" ESMTP")[0], target
        assert after["ehlo"][1:] == [line for line in before["ehlo"] if line != "250-STARTTLS"][1:], target
        assert after["starttls_reply"] == ["500 5.5.1 Command unrecognized"]


# ---- where the proxy sits ----------------------------------------------------------------------------------------


def test_inspected_port_25_answers_from_the_router(delayed_lab: Lab) -> None:
    """The proxy completes the client's connect itself: port 25 answers at the router's distance while 587
    of the same address answers across the delayed link. The greeting still comes from the server."""
    rtt = delayed_lab.rtt_ms
    delayed_lab.set_policy("inspect-25")
    jobs = [{"op": "rtt", "host": host, "port": port, "count": 6}
            for host in (delayed_lab.mail4, delayed_lab.exim6) for port in (25, 587)]
    jobs.append({"op": "connect", "host": delayed_lab.mail4, "port": 25, "read": True})
    *times, greeting = delayed_lab.netcheck(jobs)
    medians = [statistics.median(result["ms"][1:]) for result in times]
    assert medians[0] < rtt / 5 and medians[2] < rtt / 5, times
    assert rtt - 1 <= medians[1] <= rtt + 8 and rtt - 1 <= medians[3] <= rtt + 8, times
    assert greeting["banner"] == masked("220 mx1.lab.test ESMTP"), greeting


@pytest.mark.parametrize("policy", ["inspect-25", "strip-starttls-25"])
def test_proxied_policies_still_reach_every_server_address(lab: Lab, policy: str) -> None:
    hosts = [lab.mail4, lab.bad6, lab.smarthost4, lab.exim6, lab.opensmtpd4]
    results = dialogues(lab, policy, *[(host, 25) for host in hosts])
    assert [r["greeting"][0][:4] for r in results] == ["220 "] * len(hosts)
    # No STARTTLS comes through; bad.lab.test never offered it.
    assert not any("250-STARTTLS" in r["ehlo"] or "250 STARTTLS" in r["ehlo"] for r in results)
