"""The router's nftables policies (table `inet mplab` in the router namespace), as `Lab.set_policy` applies them.

Each policy is a set of forward rules and prerouting (nat) rules, written in one `nft -f` transaction that
first flushes both chains, so a switch is atomic. {srv} / {cli} are the router's server-side and client-side
devices; {smarthost4} / {smarthost6} the smarthost's addresses; {mask_port} / {strip_port} the ports of the
inspecting proxy (tests/lab/inspect_proxy.py) that runs in the router namespace.
"""

from __future__ import annotations

# The inspecting proxy's ports on the router (any router address, IPv4 and IPv6).
MASK_PORT, STRIP_PORT = 10025, 10026

_TO_SERVERS_25 = [
    'iifname "{cli}" ip daddr 203.0.113.0/24 tcp dport 25',
    'iifname "{cli}" ip6 daddr 2001:db8:113::/64 tcp dport 25',
]

FORWARD = {
    "open": [],
    "drop-25": ['oifname "{srv}" tcp dport 25 drop'],
    "reset-25": ['oifname "{srv}" tcp dport 25 reject with tcp reset'],
    "icmp-25": ['oifname "{srv}" tcp dport 25 reject with icmpx type admin-prohibited'],
    "dnat-25": [],
    "drop-mail": ['oifname "{srv}" tcp dport {{ 25, 465, 587, 110, 995, 143, 993 }} drop'],
    "inspect-25": [],
    "strip-starttls-25": [],
}
PREROUTING = {
    "dnat-25": [
        'iifname "{cli}" ip daddr 203.0.113.0/24 tcp dport 25 dnat ip to {smarthost4}',
        'iifname "{cli}" ip6 daddr 2001:db8:113::/64 tcp dport 25 dnat ip6 to {smarthost6}',
    ],
    # The proxy reads the original destination from conntrack and connects on to it itself.
    "inspect-25": [f"{match} redirect to :{{mask_port}}" for match in _TO_SERVERS_25],
    "strip-starttls-25": [f"{match} redirect to :{{strip_port}}" for match in _TO_SERVERS_25],
}
POLICIES = tuple(FORWARD)
PROXIED_POLICIES = ("inspect-25", "strip-starttls-25")  # need the proxy running


def nft_script(name: str, values: dict[str, str | int]) -> str:
    """The `nft -f` input that replaces the router's rules with policy `name`."""
    if name not in FORWARD:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    values = {"mask_port": MASK_PORT, "strip_port": STRIP_PORT, **values}
    script = ["flush chain inet mplab forward", "flush chain inet mplab prerouting"]
    script += [f"add rule inet mplab forward {rule.format(**values)}" for rule in FORWARD[name]]
    script += [f"add rule inet mplab prerouting {rule.format(**values)}" for rule in PREROUTING.get(name, [])]
    return "\n".join(script) + "\n"
