"""Zones of domains hosted together, for the demo DNS server: d0.test, d1.test ... whose MX is the one host
mx.shared.test (127.0.0.1), and two.test whose two MX names (mx, mx2.shared.test) share that address."""

from __future__ import annotations

SOA = "$TTL 300\n@ IN SOA ns.shared.test. hostmaster 1 3600 600 86400 300\n@ IN NS ns.shared.test.\n"


def hosted(count: int) -> list[tuple[str, str]]:
    domains = [(f"d{i}.test.", SOA + "@ IN MX 10 mx.shared.test.\n") for i in range(count)]
    two = ("two.test.", SOA + "@ IN MX 10 mx.shared.test.\n@ IN MX 20 mx2.shared.test.\n")
    return [*domains, two, ("shared.test.", SOA + "ns IN A 127.0.0.1\nmx IN A 127.0.0.1\nmx2 IN A 127.0.0.1\n")]
