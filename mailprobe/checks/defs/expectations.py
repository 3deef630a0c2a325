"""Findings from a profile's expectations and a baseline's drift. Definitions only; the logic is in mailprobe.checks."""

from __future__ import annotations

from mailprobe.checks.catalogue import define
from mailprobe.model import Category, Severity

EXPECTED_OPEN = define(
    "PROFILE-PORT-NOT-OPEN",
    Severity.HIGH,
    Category.EXPECTATIONS,
    "A port the profile expects open is not open",
    "The profile says this port must accept connections; it did not.",
    "Open the port in the firewall and make sure the service listens on it, or fix the profile.",
)

EXPECTED_BLOCKED_SEEN = define(
    "PROFILE-EXPECTED-BLOCKED",
    Severity.INFO,
    Category.EXPECTATIONS,
    "Port blocked, as the profile expects",
    "The network this runs on blocks the port and the profile says so: not a failure.",
    "Nothing to do; remove the port from expect_blocked when the network changes.",
)

EXPECTED_BLOCKED_OPEN = define(
    "PROFILE-BLOCKED-PORT-OPEN",
    Severity.MEDIUM,
    Category.EXPECTATIONS,
    "A port the profile expects blocked is open",
    "The profile says this network blocks the port, but it connected: the network changed.",
    "Update the profile (remove the port from expect_blocked) if the change is intended.",
)

STARTTLS_REQUIRED = define(
    "PROFILE-STARTTLS-MISSING",
    Severity.HIGH,
    Category.EXPECTATIONS,
    "STARTTLS required by the profile but not in use",
    "The profile requires every plaintext service to upgrade to TLS; this one did not.",
    "Enable STARTTLS with a valid certificate on the service.",
)

TLS_TOO_OLD = define(
    "PROFILE-TLS-VERSION",
    Severity.HIGH,
    Category.EXPECTATIONS,
    "TLS version below the profile's minimum",
    "The negotiated TLS version is older than the profile allows.",
    "Enable newer TLS versions on the server (TLS 1.2 and 1.3).",
)

CERT_DAYS = define(
    "PROFILE-CERT-DAYS",
    Severity.HIGH,
    Category.EXPECTATIONS,
    "Certificate expires sooner than the profile allows",
    "The profile wants more days of validity left than the certificate has.",
    "Renew the certificate.",
)

CAPABILITY_MISSING = define(
    "PROFILE-CAPABILITY-MISSING",
    Severity.MEDIUM,
    Category.EXPECTATIONS,
    "A capability the profile expects is not offered",
    "The profile lists capabilities this service must offer; one is missing.",
    "Enable the capability on the server, or fix the profile.",
)

BANNER_MISMATCH = define(
    "PROFILE-BANNER-MISMATCH",
    Severity.MEDIUM,
    Category.EXPECTATIONS,
    "Greeting does not match the profile's pattern",
    "The server's greeting does not match the regular expression the profile pins.",
    "Check which server answers (a changed banner can mean a changed or intercepted server).",
)

PORT_CHANGED = define(
    "BASELINE-PORT-CHANGED",
    Severity.HIGH,
    Category.EXPECTATIONS,
    "Port state changed since the baseline",
    "A port that was open is now closed, filtered or unreachable, or the other way round.",
    "Check firewall and service changes; update the baseline if the change is intended.",
)

CAPABILITY_CHANGED = define(
    "BASELINE-CAPABILITY-CHANGED",
    Severity.MEDIUM,
    Category.EXPECTATIONS,
    "Capabilities changed since the baseline",
    "The service gained or lost capabilities (e.g. STARTTLS disappeared after an upgrade).",
    "Review the server's configuration change; update the baseline if intended.",
)

BANNER_CHANGED = define(
    "BASELINE-BANNER-CHANGED",
    Severity.LOW,
    Category.EXPECTATIONS,
    "Greeting changed since the baseline",
    "A different greeting can mean a software upgrade, a new server behind the address, or interception.",
    "Confirm the change is yours; update the baseline.",
)

CERT_CHANGED = define(
    "BASELINE-CERT-CHANGED",
    Severity.LOW,
    Category.EXPECTATIONS,
    "Certificate changed since the baseline",
    "A new certificate (fingerprint, issuer or expiry) is served. Routine after renewal; suspicious otherwise.",
    "Confirm the renewal; update the baseline (and TLSA records if you publish DANE 3 0 1 / 3 0 2).",
)

MX_CHANGED = define(
    "BASELINE-MX-CHANGED",
    Severity.HIGH,
    Category.EXPECTATIONS,
    "MX set changed since the baseline",
    "The domain's MX hosts or preferences differ from the baseline.",
    "Confirm the DNS change was intended; update the baseline.",
)

HANDSHAKE_CHANGED = define(
    "BASELINE-HANDSHAKE-CHANGED",
    Severity.MEDIUM,
    Category.EXPECTATIONS,
    "Handshake outcome changed since the baseline",
    "The dialogue now ends differently (status or STARTTLS outcome) than it did.",
    "Look at the transcript (--transcript) for what changed.",
)
