"""`mailprobe egress` against real servers under every router policy, in connect and raw mode.

The destinations look odd the way hosted mail does (mx.customer.test is Exim greeting as exim.lab.test with
its own certificate; mail.tenant.test is Postfix mx1 greeting as mx1.lab.test): on an open network that is a
note, never `intercepted`. Interception is judged from positive evidence only: the smarthost answering every
destination (dnat-25), the router's inspecting proxy masking the greeting and STARTTLS (inspect-25) or
stripping STARTTLS (strip-starttls-25), and port 25 answering from nearer than 587 of the same address.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from labnet import Lab

HOSTED = ("mx.customer.test", "mail.tenant.test", "mx1.lab.test")
Result = dict[str, Any]


def egress(lab: Lab, *args: str) -> tuple[int, Result, set[str]]:
    done = lab.mailprobe(
        "egress", "--resolver", lab.dns4, "--ca-file", lab.ca_file, "--timeout", "2", "--json", *args, timeout=120
    )
    assert done.returncode in (0, 1, 3), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    return done.returncode, report["egress"], {f["code"] for f in report["findings"]}


def targets(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--target", name)]


def signs(result: Result) -> set[str]:
    return {sign["kind"] for sign in result["signs"]}


MODES = {"connect": [], "raw": ["--raw"]}


@pytest.mark.parametrize("mode", list(MODES))
def test_hosted_destinations_on_an_open_network_are_open(lab: Lab, mode: str) -> None:
    lab.set_policy("open")
    code, result, codes = egress(lab, *targets(*HOSTED), "--control-port", "587,465", *MODES[mode])
    assert (result["verdict"], code, codes) == ("open", 0, set()), result
    assert result["signs"] == []
    notes = "\n".join(result["notes"])
    # Said, never judged: Exim's certificate is for its own name, not the customer's (mx.customer.test's
    # greeting is exim.lab.test, which its reverse DNS confirms: the provider's own name, not even a note).
    assert "mx.customer.test [203.0.113.28]:25 presents a certificate for 'CN=exim.lab.test" in notes


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(
    ("policy", "verdict", "finding"),
    [
        ("drop-25", "blocked-drop", "PORT25-BLOCKED"),
        ("reset-25", "blocked-reset", "PORT25-BLOCKED"),
        ("icmp-25", "blocked-icmp", "PORT25-BLOCKED"),
        ("drop-mail", "all-blocked", "EGRESS-ALL-BLOCKED"),
    ],
)
def test_blocks_per_policy(lab: Lab, mode: str, policy: str, verdict: str, finding: str) -> None:
    lab.set_policy(policy)
    code, result, codes = egress(lab, *targets("mx1.lab.test", "exim.lab.test"), "--control-port", "587,465",
                                 *MODES[mode])  # fmt: skip
    assert (result["verdict"], code) == (verdict, 1), result
    assert finding in codes
    basis = "\n".join(result["basis"])
    if policy == "icmp-25":
        assert "from 198.51.100.1" in basis and "from 2001:db8:100::1" in basis
    if policy == "reset-25" and mode == "raw":
        assert "forged" in result["explanation"]
        assert "RST with TTL 64 (0 hops away); SYN-ACK on port 587 with TTL 63 (1 hops away)" in basis
    if verdict.startswith("blocked"):
        assert "ports 465 and 587 worked from here" in result["explanation"]  # seen working, so recommended


def test_mail_ports_blocked_with_443_open_recommends_no_mail_port(lab: Lab) -> None:
    lab.set_policy("drop-mail")
    code, result, _ = egress(lab, *targets("mx1.lab.test", "web.lab.test"), "--control-port", "587,465,443")
    assert (result["verdict"], code) == ("blocked-drop", 1), result
    text = result["explanation"]
    assert text.startswith("Mail ports are blocked, not only 25: port 25 and the submission ports 465 and 587 fail")
    assert "port 443" in text and "worked" not in text and "Send mail through" not in text


@pytest.mark.parametrize("mode", list(MODES))
def test_smarthost_answering_for_everyone_is_interception(lab: Lab, mode: str) -> None:
    lab.set_policy("dnat-25")
    code, result, codes = egress(lab, *targets(*HOSTED), "--control-port", "587,465", *MODES[mode])
    assert (result["verdict"], code) == ("intercepted", 1), result
    assert {"shared-identity", "identity-differs"} <= signs(result)
    assert "smtp.isp.test" in "\n".join(result["basis"])
    assert "PORT25-INTERCEPTED" in codes


@pytest.mark.parametrize("mode", list(MODES))
def test_esmtp_inspection_is_interception_and_strips_starttls(lab: Lab, mode: str) -> None:
    lab.set_policy("inspect-25")
    code, result, codes = egress(lab, *targets("mx1.lab.test", "exim.lab.test"), "--control-port", "587,465",
                                 *MODES[mode])  # fmt: skip
    assert (result["verdict"], code) == ("intercepted", 1), result
    assert {"masked-greeting", "starttls-masked", "starttls-stripped"} <= signs(result)
    if mode == "raw":  # the proxy on the router answers the SYN itself, one hop nearer than the servers
        assert "nearer" in signs(result)
    assert {"PORT25-INTERCEPTED", "STARTTLS-STRIPPED"} <= codes


def test_stripped_starttls_alone_is_named(lab: Lab) -> None:
    lab.set_policy("strip-starttls-25")
    code, result, codes = egress(lab, *targets("mx1.lab.test", "exim.lab.test"), "--control-port", "587,465")
    assert (result["verdict"], code) == ("intercepted", 1), result
    assert "starttls-stripped" in signs(result)
    assert "STARTTLS-STRIPPED" in codes


def test_port_25_answering_from_nearer_by_round_trip(delayed_lab: Lab) -> None:
    """Without root: the proxy on the router accepts 25 at once, while 587 of the same address is 50 ms away."""
    delayed_lab.set_policy("strip-starttls-25")
    code, result, _ = egress(delayed_lab, *targets("mx1.lab.test"), "--control-port", "587,465")
    timing = [*result["connect_times"], *result["notes"]]
    assert (result["verdict"], code) == ("intercepted", 1), timing
    assert signs(result) == {"nearer"}  # one destination: STARTTLS missing there alone is not the path's sign
    assert "accepted the connection in" in result["basis"][0]


def test_an_unresolvable_target_is_reported_and_the_rest_goes_on(lab: Lab) -> None:
    lab.set_policy("open")
    code, result, _ = egress(lab, *targets("nosuch.lab.test", "mx1.lab.test"), "--control-port", "587")
    assert (result["verdict"], code) == ("open", 0), result
    assert result["evidence"][0].startswith("nosuch.lab.test: does not resolve (A nxdomain")
