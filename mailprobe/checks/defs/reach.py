"""Findings about port states. Definitions only; the logic is in mailprobe.checks."""

from __future__ import annotations

from mailprobe.checks.catalogue import define
from mailprobe.model import Category, Severity

PORT_CLOSED = define(
    "PORT-CLOSED", Severity.INFO, Category.REACH, "Port closed",
    "The host answers connections on this port with a reset: nothing listens there. Normal for services the "
    "host does not offer; a problem if clients expect one (a MX must accept port 25).",
    "Start the service or stop publishing it (DNS, client settings); ignore if the service is not offered.",
    "connect 203.0.113.25:110 -> RST (conn-refused)",
)  # fmt: skip

PORT_FILTERED = define(
    "PORT-FILTERED", Severity.LOW, Category.REACH, "Port filtered (no answer)",
    "Connection attempts get no answer at all: a firewall drops them. Clients wait for a timeout instead of "
    "failing fast, and a mail server behind it cannot be reached on that port.",
    "Open the port in the firewall if the service should be reachable, or reject instead of dropping.",
    "connect 203.0.113.25:25 -> no answer after 2 attempts (no-response)",
)  # fmt: skip

PORT_SILENT_BUSY = define(
    "PORT-SILENT-BUSY-PATH", Severity.INFO, Category.REACH, "No answer while its network was busy",
    "The port answered none of its tries, but the same address had answered earlier in the run, and the same "
    "port number on its network (/24 or /48) was seen busy shortly before: it answered only a retry (connection "
    "attempts were being lost), or a session of this run to it stalled. A busy server whose accept queue is "
    "full drops connection attempts exactly as a firewall would, so this is not a verdict on the port.",
    "Run again when the server is less busy (or with fewer targets at once); a port that stays silent is filtered.",
    "connect 203.0.113.25:993 -> no answer to 6 tries in 2 rounds; the address had answered earlier in the "
    "run, and this port on its network answered only a retry shortly before",
)  # fmt: skip

PORT_UNREACHABLE = define(
    "PORT-UNREACHABLE", Severity.LOW, Category.REACH, "Port unreachable (ICMP error)",
    "A router or the host answers connection attempts with an ICMP error (administratively prohibited, host "
    "unreachable, ...): a filter or a routing problem on the way, named by the ICMP sender.",
    "Check the firewall or route at the ICMP sender's address.",
    "connect 203.0.113.25:25 -> ICMP admin-prohibited from 198.51.100.1",
)  # fmt: skip

MX_PORT25 = define(
    "PORT25-MX-NOT-OPEN", Severity.HIGH, Category.REACH, "An MX host does not accept connections on port 25",
    "Other mail servers deliver to the MX hosts on port 25 only; an MX address where 25 is closed, filtered or "
    "unreachable makes senders retry elsewhere or give up.",
    "Open port 25 on the MX host (firewall, listener), or remove the address from the MX host's DNS.",
    "MX 10 mx1.example.org -> 203.0.113.25: port 25 filtered (no-response)",
)  # fmt: skip

PORT25_NOT_TESTED_HERE = define(
    "PORT25-NOT-TESTABLE-HERE", Severity.LOW, Category.REACH, "Port 25 could not be tested from this network",
    "Port 25 went unanswered at every address probed, while other ports of the same addresses answered. That is "
    "the pattern of a network that blocks outbound port 25 (many home and cloud networks do), not evidence about "
    "the MX hosts: whether they accept mail on 25 is unknown from here.",
    "Run `mailprobe egress` to test this network's port 25, or audit the domain from a network that allows it.",
    "port 25 filtered at 203.0.113.25, 203.0.113.26; ports 587, 443 of the same addresses answered",
)  # fmt: skip
