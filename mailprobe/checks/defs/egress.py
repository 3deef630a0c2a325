"""Findings about outbound port 25 from this network. Definitions only; the logic is in mailprobe.checks."""

from __future__ import annotations

from mailprobe.checks.catalogue import define
from mailprobe.model import Category, Severity

PORT25_BLOCKED = define(
    "PORT25-BLOCKED", Severity.HIGH, Category.EGRESS, "Outbound port 25 is blocked",
    "Your network does not let connections to port 25 out (dropped, reset or refused by ICMP) while other "
    "ports work: mail cannot be delivered directly from here to other mail servers.",
    "Relay through your provider's submission server (587/465 with authentication) or ask the ISP to lift "
    "the block (often possible for business lines).",
    "port 25: no-response everywhere; ports 587/465/443: open",
)  # fmt: skip

PORT25_INTERCEPTED = define(
    "PORT25-INTERCEPTED", Severity.HIGH, Category.EGRESS, "Outbound port 25 is intercepted",
    "Connections to port 25 are redirected to a server that is not the destination (another greeting, "
    "another certificate): mail sent directly passes through a third party that can read, filter or drop it.",
    "Send mail through an authenticated submission server (587/465) with TLS, or ask the ISP to stop the "
    "redirection.",
    "S: 220 smtp.isp.example ESMTP   (connected to mx1.example.org)",
)  # fmt: skip

EGRESS_ALL_BLOCKED = define(
    "EGRESS-ALL-BLOCKED", Severity.MEDIUM, Category.EGRESS, "No outbound connection works",
    "Neither port 25 nor the control ports connect: there is no usable network here, or a firewall blocks "
    "everything. This says nothing about a port-25 block in particular.",
    "Check the network connection and the local firewall, then run the test again.",
)  # fmt: skip

EGRESS_INCONCLUSIVE = define(
    "EGRESS-INCONCLUSIVE", Severity.INFO, Category.EGRESS, "Outbound port 25 test inconclusive",
    "The results do not allow a verdict (see the reason): the test could not tell a block from a problem "
    "with the destinations.",
    "Run again with other destinations (--target), or with --raw as root for more evidence.",
)  # fmt: skip

STARTTLS_STRIPPED = define(
    "STARTTLS-STRIPPED", Severity.HIGH, Category.EGRESS, "STARTTLS is stripped on the path",
    "Port 25 shows no STARTTLS (or XXXXXXXA) at destinations whose own submission ports offer TLS: something "
    "between this network and them removes it. Mail from this network to any server then goes out in clear "
    "text, readable and changeable on the way.",
    "Send through an authenticated submission server over implicit TLS (465), and ask the network's operator to "
    "stop rewriting SMTP (ESMTP inspection, a transparent proxy).",
)  # fmt: skip
